# Sourced by the benchmark scripts: repeated runs of a command, as hyperfine makes them, with
# the peak RSS GNU time reports (which hyperfine does not).
timing=$(mktemp)
rows=()

# Runs a shell command $2 times (default 1) under GNU time; sets secs (the median), min_secs
# and rss_mb (the largest).
measure() {
  local runs=${2:-1} all="" out
  rss_mb=0
  for _ in $(seq "$runs"); do
    /usr/bin/time -o "$timing" -f '%e %M' bash -c "$1" >/dev/null 2>/dev/null
    out=$(tail -1 "$timing")
    all="$all ${out% *}"
    local rss=$(( ${out#* } / 1024 ))
    [ "$rss" -gt "$rss_mb" ] && rss_mb=$rss
  done
  secs=$(echo $all | tr ' ' '\n' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
  min_secs=$(echo $all | tr ' ' '\n' | sort -n | head -1)
}

# bench NAME COMMAND RUNS VAR: measures COMMAND, keeps a row for print_rows, and sets VAR to
# its median seconds.
bench() {
  measure "$2" "$3"
  rows+=("$1"$'\t'"$secs"$'\t'"$min_secs"$'\t'"$rss_mb"$'\t'"$3")
  eval "$4=$secs"
}

# print_rows BYTES RECORDS: the table of every bench so far, throughput from the median.
print_rows() {
  echo
  printf '%-40s %9s %9s %10s %12s %8s %5s\n' "" "median s" "min s" "MB/s" "records/s" "RSS MB" "runs"
  for row in "${rows[@]}"; do
    IFS=$'\t' read -r name med min rss n <<< "$row"
    awk -v n="$name" -v s="$med" -v m="$min" -v r="$rss" -v k="$n" -v d="$1" -v rec="$2" \
      'BEGIN { printf "%-40s %9.2f %9.2f %10.1f %12.0f %8d %5d\n", n, s, m, d/s/1e6, rec/s, r, k }'
  done
  echo
}
