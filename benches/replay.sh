#!/usr/bin/env bash
# The end-to-end replay benchmark: one `trailhose gen` archive (the realistic preset: 12
# accounts, 6 regions, ~200 sessions per account an hour with role chains, deliveries up to
# 15 minutes late, GeoIP databases of 65,536 networks; about 1.2 GB decompressed by default),
# timed in one run against the tools people use for the same job:
#   trailhose replay DIR -o /dev/null                   (raw output; dedupe on, the default)
#   trailhose replay DIR -o /dev/null --enrich ...      (attribution, GeoIP/ASN, noise, resources)
#   trailhose replay DIR -o /dev/null --format ecs      (Elastic Common Schema)
#   trailhose replay DIR -o /dev/null --format ocsf     (OCSF 1.1.0)
#   trailhose replay DIR -o /dev/null --format ecs --enrich ...
#   cat FILES | trailhose replay - -o /dev/null         (one stream: stdin, decoded by every core)
#   zcat FILES | jq -c '.Records[]?'      (the usual one-liner)
#   zcat FILES > /dev/null                 (single-process decompress floor)
#   libdeflate-gunzip -c FILES > /dev/null (the fastest inflater: the physical floor)
# Each command but jq runs RUNS times (default 5), as hyperfine would, in rounds (each command
# once per round): the table gives the median and the minimum, and the ratios are of medians.
# jq, some 40 s, runs once.
#
# Usage: benches/replay.sh [EVENTS]          (default 700000; PRESET=small for the tidy trail)
# Needs: jq, libdeflate-tools, time (GNU): apt-get install jq libdeflate-tools time
# Quote ratios from one run: the machine is shared and noisy.
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-700000}
dir=${BENCH_DIR:-target/bench-archive-${PRESET:-realistic}-$events}
for tool in jq zcat libdeflate-gunzip /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install jq libdeflate-tools time" >&2; exit 2; }
done
source benches/archive.sh
source benches/measure.sh
if [ ! -f "$dir/geoip/city.mmdb" ]; then
  fixtures=$(mktemp -d)
  "$bin" gen --events 1 --out "$fixtures" --geoip-fixtures --preset "$preset" 2>/dev/null
  mv "$fixtures/geoip" "$dir/geoip"
  rm -rf "$fixtures"
fi
files=$(mktemp)
trap 'rm -f "$files" "$timing"' EXIT
# In trail time order (the delivery time in the names), as the directory replay reads them: in
# path order (one account's whole timeline, then the next) calls meet their issuers late and
# the enriched stream runs at about 0.6 of the directory replay instead of 0.9.
find "$dir/AWSLogs" -type f -name '*.json.gz' | awk -F_ '{ print $(NF-1) "\t" $0 }' | sort | cut -f2- > "$files"
compressed=$(xargs -a "$files" cat | wc -c)
decompressed=$(xargs -a "$files" zcat | wc -c)
awk -v f="$(wc -l < "$files")" -v c="$compressed" -v d="$decompressed" -v n="$(nproc)" \
  'BEGIN { printf "archive: %d files, %.1f MB compressed, %.1f MB decompressed, %d cores\n", f, c/1e6, d/1e6, n }'

summary=$(mktemp)
runs=${RUNS:-5}
geo="--geoip-city '$dir/geoip/city.mmdb' --geoip-asn '$dir/geoip/asn.mmdb'"
# The commands but jq run in rounds (each once per round): a slow spell of this shared machine
# then slows all of them alike, and their ratios hold.
bench_interleaved "$runs" \
  "trailhose replay -o /dev/null" "'$bin' replay '$dir/AWSLogs' -o /dev/null 2>'$summary'" raw \
  "trailhose replay --enrich (all on)" "'$bin' replay '$dir/AWSLogs' -o /dev/null -q --enrich $geo" enriched \
  "trailhose replay --format ecs" "'$bin' replay '$dir/AWSLogs' -o /dev/null -q --format ecs" ecs \
  "trailhose replay --format ocsf" "'$bin' replay '$dir/AWSLogs' -o /dev/null -q --format ocsf" ocsf \
  "trailhose replay --format ecs --enrich" "'$bin' replay '$dir/AWSLogs' -o /dev/null -q --format ecs --enrich $geo" ecs_enriched \
  "cat FILES | trailhose replay -" "xargs -a '$files' cat | '$bin' replay - -o /dev/null -q" stdin \
  "zcat > /dev/null" "xargs -a '$files' zcat" zcat \
  "libdeflate-gunzip -c > /dev/null" "xargs -a '$files' libdeflate-gunzip -c" ld
records=$(grep -o '^trailhose: [0-9,]* records out' "$summary" | tr -dc '0-9')
rm -f "$summary"
bench "zcat | jq -c '.Records[]?'" "xargs -a '$files' zcat | jq -c '.Records[]?'" 1 jq

print_rows "$decompressed" "$records"
echo
awk -v t="$raw" -v e="$enriched" -v es="$ecs" -v os="$ocsf" -v ee="$ecs_enriched" -v st="$stdin" \
  -v j="$jq" -v z="$zcat" -v l="$ld" -v c="$(nproc)" -v r="$records" 'BEGIN {
  printf "records: %d (ratios of medians)\n", r
  printf "trailhose vs jq (records/s):         %6.1fx  (target >= 20x)\n", j/t
  printf "trailhose vs zcat (MB/s):            %6.2fx  (target >= 2x)\n", z/t
  printf "trailhose vs libdeflate, all cores:  %6.2f   (share of %d cores of libdeflate; aim >= 0.33)\n", l/t/c, c
  printf "enriched vs raw (throughput):        %6.2f   (target >= 0.75)\n", t/e
  printf "ecs vs raw (throughput):             %6.2f   (target >= 0.70)\n", t/es
  printf "ocsf vs raw (throughput):            %6.2f   (target >= 0.70)\n", t/os
  printf "ecs+enriched vs raw (throughput):    %6.2f\n", t/ee
  printf "stdin (one stream) vs directory:     %6.2f   (target >= 0.80)\n", t/st
}'
