#!/usr/bin/env bash
# What each part of enrichment costs: the benchmark archive (benches/replay.sh's) replayed raw,
# enriched without GeoIP, with the ASN database only, and with both GeoIP databases, in rounds
# (each command once a round, so a slow spell of the machine falls on all of them). Prints the
# table (medians, minimums, peak RSS, CPU seconds) and each enriched mode's throughput against
# raw. For a change's effect on one mode, use benches/compare.sh (two builds, alternating).
#
# Usage: benches/enrich_parts.sh [EVENTS]      (default 700000; RUNS=5)
# Needs: time (GNU): apt-get install time
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-700000}
dir=${BENCH_DIR:-target/bench-archive-${PRESET:-realistic}-$events}
source benches/archive.sh
source benches/measure.sh
trap 'rm -f "$timing"' EXIT
decompressed=$(find "$dir/AWSLogs" -type f -name '*.json.gz' -print0 | xargs -0 zcat | wc -c)
records=$("$bin" replay "$dir/AWSLogs" -o /dev/null 2>&1 | grep -o '^trailhose: [0-9,]* records out' | tr -dc '0-9')
run="'$bin' replay '$dir/AWSLogs' -o /dev/null -q"
bench_interleaved "${RUNS:-5}" \
  "raw" "$run" raw \
  "--enrich, no GeoIP" "$run --enrich" no_geo \
  "--enrich, ASN only" "$run --enrich --geoip-asn '$dir/geoip/asn.mmdb'" asn \
  "--enrich, city and ASN" "$run --enrich --geoip-city '$dir/geoip/city.mmdb' --geoip-asn '$dir/geoip/asn.mmdb'" geo
print_rows "$decompressed" "$records"
awk -v t="$raw" -v n="$no_geo" -v a="$asn" -v g="$geo" 'BEGIN {
  printf "throughput against raw (medians): no GeoIP %.2f, ASN only %.2f, city and ASN %.2f (target >= 0.75)\n", t/n, t/a, t/g
}'
