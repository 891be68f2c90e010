#!/usr/bin/env bash
# The end-to-end replay benchmark: one `trailhose gen` archive (about 1.1 GB decompressed by
# default), timed in one run against the tools people use for the same job:
#   trailhose replay DIR -o /dev/null                   (raw output; dedupe on, the default)
#   trailhose replay DIR -o /dev/null --enrich ...      (attribution, GeoIP/ASN, noise, resources)
#   trailhose replay DIR -o /dev/null --format ecs      (Elastic Common Schema)
#   trailhose replay DIR -o /dev/null --format ocsf     (OCSF 1.1.0)
#   zcat FILES | jq -c '.Records[]?'      (the usual one-liner)
#   zcat FILES > /dev/null                 (single-process decompress floor)
#   libdeflate-gunzip -c FILES > /dev/null (the fastest inflater: the physical floor)
# Prints seconds, MB/s (decompressed), records/s, peak RSS and the ratios. Each fast command is
# run RUNS times (default 5) and its median kept; jq, some 30 s, runs once.
#
# Usage: benches/replay.sh [EVENTS]          (default 700000)
# Needs: jq, libdeflate-tools, time (GNU): apt-get install jq libdeflate-tools time
# Quote ratios from one run: the machine is shared and noisy.
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-700000}
dir=${BENCH_DIR:-target/bench-archive-$events}
for tool in jq zcat libdeflate-gunzip /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install jq libdeflate-tools time" >&2; exit 2; }
done
source benches/archive.sh
if [ ! -f "$dir/geoip/city.mmdb" ]; then
  fixtures=$(mktemp -d)
  "$bin" gen --events 1 --out "$fixtures" --geoip-fixtures 2>/dev/null
  mv "$fixtures/geoip" "$dir/geoip"
  rm -rf "$fixtures"
fi
files=$(mktemp)
timing=$(mktemp)
trap 'rm -f "$files" "$timing"' EXIT
find "$dir/AWSLogs" -type f -name '*.json.gz' | sort > "$files"
compressed=$(xargs -a "$files" cat | wc -c)
decompressed=$(xargs -a "$files" zcat | wc -c)
awk -v f="$(wc -l < "$files")" -v c="$compressed" -v d="$decompressed" -v n="$(nproc)" \
  'BEGIN { printf "archive: %d files, %.1f MB compressed, %.1f MB decompressed, %d cores\n", f, c/1e6, d/1e6, n }'

# Runs a shell command $2 times (default 1) under GNU time; sets secs (the median) and rss_mb
# (the largest).
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
}

summary=$(mktemp)
# The fast commands take about a second: the median of $RUNS runs (default 5) steadies them.
runs=${RUNS:-5}
measure "'$bin' replay '$dir/AWSLogs' -o /dev/null 2>'$summary'" "$runs"
th_secs=$secs; th_rss=$rss_mb
measure "'$bin' replay '$dir/AWSLogs' -o /dev/null -q --enrich --geoip-city '$dir/geoip/city.mmdb' --geoip-asn '$dir/geoip/asn.mmdb'" "$runs"
en_secs=$secs; en_rss=$rss_mb
measure "'$bin' replay '$dir/AWSLogs' -o /dev/null -q --format ecs" "$runs"
ecs_secs=$secs; ecs_rss=$rss_mb
measure "'$bin' replay '$dir/AWSLogs' -o /dev/null -q --format ocsf" "$runs"
ocsf_secs=$secs; ocsf_rss=$rss_mb
records=$(grep -o '^trailhose: [0-9,]* records out' "$summary" | tr -dc '0-9')
rm -f "$summary"
measure "xargs -a '$files' zcat | jq -c '.Records[]?'"
jq_secs=$secs; jq_rss=$rss_mb
measure "xargs -a '$files' zcat" "$runs"
zcat_secs=$secs; zcat_rss=$rss_mb
measure "xargs -a '$files' libdeflate-gunzip -c" "$runs"
ld_secs=$secs; ld_rss=$rss_mb

row() { # name secs rss
  awk -v n="$1" -v s="$2" -v r="$3" -v d="$decompressed" -v rec="$records" \
    'BEGIN { printf "%-34s %8.2f s %9.1f MB/s %12.0f rec/s %7d MB RSS\n", n, s, d/s/1e6, rec/s, r }'
}
echo
row "trailhose replay -o /dev/null" "$th_secs" "$th_rss"
row "trailhose replay --enrich (all on)" "$en_secs" "$en_rss"
row "trailhose replay --format ecs" "$ecs_secs" "$ecs_rss"
row "trailhose replay --format ocsf" "$ocsf_secs" "$ocsf_rss"
row "zcat | jq -c '.Records[]?'" "$jq_secs" "$jq_rss"
row "zcat > /dev/null" "$zcat_secs" "$zcat_rss"
row "libdeflate-gunzip -c > /dev/null" "$ld_secs" "$ld_rss"
echo
awk -v t="$th_secs" -v e="$en_secs" -v es="$ecs_secs" -v os="$ocsf_secs" -v j="$jq_secs" -v z="$zcat_secs" -v l="$ld_secs" -v c="$(nproc)" -v r="$records" 'BEGIN {
  printf "records: %d\n", r
  printf "trailhose vs jq (records/s):         %6.1fx  (target >= 20x)\n", j/t
  printf "trailhose vs zcat (MB/s):            %6.2fx  (target >= 2x)\n", z/t
  printf "trailhose vs libdeflate, all cores:  %6.2f   (share of %d cores of libdeflate; aim >= 0.33)\n", l/t/c, c
  printf "enriched vs raw (throughput):        %6.2f   (target >= 0.70)\n", t/e
  printf "ecs vs raw (throughput):             %6.2f   (target >= 0.70)\n", t/es
  printf "ocsf vs raw (throughput):            %6.2f   (target >= 0.70)\n", t/os
}'
