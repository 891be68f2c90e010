#!/usr/bin/env bash
# A/B of two trailhose binaries on the same archive (a change's cost or gain): each mode (raw,
# --enrich with GeoIP, --format ecs, --format ocsf) is run RUNS times per binary, alternating,
# and the medians of wall time and of CPU time (user + system) are printed. CPU time is the
# steadier of the two on a shared machine; for an exact count, run one mode of each binary
# under `valgrind --tool=callgrind ... --workers 1` on a small archive.
#
# Usage: benches/compare.sh BASE_BIN HEAD_BIN ARCHIVE_DIR [RUNS]
#   ARCHIVE_DIR as `trailhose gen --geoip-fixtures --out DIR` writes it (AWSLogs/, geoip/).
# Needs: time (GNU): apt-get install time
set -euo pipefail
base=$1 head=$2 dir=$3 runs=${4:-5}
geo="--geoip-city $dir/geoip/city.mmdb --geoip-asn $dir/geoip/asn.mmdb"
times=$(mktemp -d)
trap 'rm -rf "$times"' EXIT
median() { sort -n -k"$2" "$1" | awk -v k="$2" '{ v[NR] = $k } END { print v[int((NR + 1) / 2)] }'; }
for mode in "raw:" "enrich:--enrich $geo" "ecs:--format ecs" "ocsf:--format ocsf"; do
  name=${mode%%:*} args=${mode#*:}
  : > "$times/base"; : > "$times/head"
  for _ in $(seq "$runs"); do
    for side in base head; do
      bin=$base; [ "$side" = head ] && bin=$head
      # shellcheck disable=SC2086 # $args is a list of flags
      /usr/bin/time -o "$times/one" -f '%e %U %S' "$bin" replay "$dir/AWSLogs" -o /dev/null -q $args
      awk '{ print $1, $2 + $3 }' "$times/one" >> "$times/$side"
    done
  done
  printf '%-7s wall %6ss -> %6ss   cpu %6ss -> %6ss\n' "$name" \
    "$(median "$times/base" 1)" "$(median "$times/head" 1)" \
    "$(median "$times/base" 2)" "$(median "$times/head" 2)"
done
