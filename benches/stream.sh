#!/usr/bin/env bash
# The single-stream benchmark: how one stream uses the cores (the pipelined decode: one thread
# inflates and splits, every worker parses, enriches and writes). In one run:
#   one ~1 GB trail file (a `trailhose gen` file of EVENTS realistic events), replayed with
#     --workers 1 (one core: how any single stream was decoded before) and with every core;
#   the benchmark archive (benches/replay.sh's) as one stream on stdin, against its directory
#     replay, raw and enriched.
# Medians and minimums of RUNS runs (default 5); ratios of medians.
#
# Usage: benches/stream.sh [EVENTS]        (default 600000: about 1 GB decompressed)
# Needs: time (GNU): apt-get install time
set -euo pipefail
cd "$(dirname "$0")/.."
big_events=${1:-600000}
events=${ARCHIVE_EVENTS:-700000}
dir=${BENCH_DIR:-target/bench-archive-${PRESET:-realistic}-$events}
source benches/archive.sh
source benches/measure.sh
one=target/bench-onefile-$big_events
if [ ! -f "$one/.complete" ]; then
  rm -rf "$one"
  # One account, one region, and a file size above the event count: all in one file.
  "$bin" gen --preset realistic --events "$big_events" --events-per-file $((big_events * 2)) \
    --accounts 1 --regions 1 --out "$one"
  touch "$one/.complete"
fi
big=$(find "$one/AWSLogs" -path '*/CloudTrail/*' -name '*.json.gz' -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2)
big_bytes=$(zcat "$big" | wc -c)
big_records=$("$bin" replay "$big" -o /dev/null 2>&1 | grep -o '^trailhose: [0-9,]* records out' | tr -dc '0-9')
files=$(mktemp)
trap 'rm -f "$files" "$timing"' EXIT
# In trail time order (the delivery time in the names), as the directory replay reads them: in
# path order (one account's whole timeline, then the next) calls meet their issuers late and
# the enriched stream runs at about 0.6 of the directory replay instead of 0.9.
find "$dir/AWSLogs" -type f -name '*.json.gz' | awk -F_ '{ print $(NF-1) "\t" $0 }' | sort | cut -f2- > "$files"
decompressed=$(xargs -a "$files" zcat | wc -c)
records=$("$bin" replay "$dir/AWSLogs" -o /dev/null 2>&1 | grep -o '^trailhose: [0-9,]* records out' | tr -dc '0-9')
runs=${RUNS:-5}
geo="--geoip-city '$dir/geoip/city.mmdb' --geoip-asn '$dir/geoip/asn.mmdb'"
printf 'one file: %s, %.1f MB decompressed, %d records; %d cores\n' "$big" "$(echo "$big_bytes / 1000000" | bc -l)" "$big_records" "$(nproc)"

# Each pair or group runs in rounds (every command once per round), so the machine's slow
# spells fall on all of them alike.
bench_interleaved "$runs" \
  "one file, --workers 1" "'$bin' replay '$big' -o /dev/null -q --workers 1" one_core \
  "one file, every core" "'$bin' replay '$big' -o /dev/null -q" all_cores
print_rows "$big_bytes" "$big_records"
rows=()
bench_interleaved "$runs" \
  "archive, directory" "'$bin' replay '$dir/AWSLogs' -o /dev/null -q" dir_raw \
  "archive, cat FILES | replay -" "xargs -a '$files' cat | '$bin' replay - -o /dev/null -q" stdin_raw \
  "archive, directory, --enrich" "'$bin' replay '$dir/AWSLogs' -o /dev/null -q --enrich $geo" dir_enriched \
  "archive, cat FILES | replay - --enrich" "xargs -a '$files' cat | '$bin' replay - -o /dev/null -q --enrich $geo" stdin_enriched
printf 'archive: %d files, %.1f MB decompressed\n' "$(wc -l < "$files")" "$(echo "$decompressed / 1000000" | bc -l)"
print_rows "$decompressed" "$records"
awk -v o="$one_core" -v a="$all_cores" -v d="$dir_raw" -v s="$stdin_raw" -v de="$dir_enriched" -v se="$stdin_enriched" 'BEGIN {
  printf "one file, every core vs one core:    %5.2fx  (target >= 1.6x)\n", o/a
  printf "stdin vs directory, raw:             %5.2f   (target >= 0.80)\n", d/s
  printf "stdin vs directory, enriched:        %5.2f\n", de/se
}'
