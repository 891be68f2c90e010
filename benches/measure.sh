# Sourced by the benchmark scripts: repeated runs of a command, as hyperfine makes them, with
# the peak RSS GNU time reports (which hyperfine does not).
timing=$(mktemp)
rows=()

# The median of its arguments.
median_of() {
  echo "$@" | tr ' ' '\n' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# bench NAME COMMAND RUNS VAR: measures COMMAND RUNS times under GNU time, keeps a row for
# print_rows (median and minimum seconds, largest RSS, median user + system CPU seconds), and
# sets VAR to its median seconds.
bench() {
  bench_interleaved "$3" "$1" "$2" "$4"
}

# bench_interleaved RUNS NAME1 COMMAND1 VAR1 [NAME2 COMMAND2 VAR2 ...]: bench for each command,
# but run in rounds (every command once per round, in turn), so a slow spell of a shared
# machine falls on every command alike instead of on whichever ran during it: the ratios
# between the commands are what the benchmarks report.
bench_interleaved() {
  local runs=$1 i r e m u s
  shift
  local n=$(($# / 3))
  local -a names cmds vars alls cpus rss
  for ((i = 0; i < n; i++)); do
    names[i]=$1 cmds[i]=$2 vars[i]=$3 alls[i]="" cpus[i]="" rss[i]=0
    shift 3
  done
  for ((r = 0; r < runs; r++)); do
    for ((i = 0; i < n; i++)); do
      /usr/bin/time -o "$timing" -f '%e %M %U %S' bash -c "${cmds[i]}" >/dev/null 2>/dev/null
      read -r e m u s < <(tail -1 "$timing")
      alls[i]="${alls[i]} $e"
      cpus[i]="${cpus[i]} $(echo "$u + $s" | bc -l)"
      if [ $((m / 1024)) -gt "${rss[i]}" ]; then rss[i]=$((m / 1024)); fi
    done
  done
  for ((i = 0; i < n; i++)); do
    # shellcheck disable=SC2086 # a list of times
    secs=$(median_of ${alls[i]})
    # shellcheck disable=SC2086
    cpu_secs=$(median_of ${cpus[i]})
    min_secs=$(echo ${alls[i]} | tr ' ' '\n' | sort -n | head -1)
    rows+=("${names[i]}"$'\t'"$secs"$'\t'"$min_secs"$'\t'"${rss[i]}"$'\t'"$runs"$'\t'"$cpu_secs")
    eval "${vars[i]}=$secs"
  done
}

# print_rows BYTES RECORDS: the table of every bench so far, throughput from the median.
print_rows() {
  echo
  printf '%-40s %9s %9s %10s %12s %8s %7s %5s\n' "" "median s" "min s" "MB/s" "records/s" "RSS MB" "CPU s" "runs"
  for row in "${rows[@]}"; do
    IFS=$'\t' read -r name med min rss n cpu <<< "$row"
    awk -v n="$name" -v s="$med" -v m="$min" -v r="$rss" -v k="$n" -v d="$1" -v rec="$2" -v c="$cpu" \
      'BEGIN { printf "%-40s %9.2f %9.2f %10.1f %12.0f %8d %7.2f %5d\n", n, s, m, d/s/1e6, rec/s, r, c, k }'
  done
  echo
}
