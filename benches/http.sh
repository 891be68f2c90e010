#!/usr/bin/env bash
# The HTTP sinks benchmark: the `trailhose gen` archive, in one run, replayed
#   1. to -o /dev/null, raw and ECS                       (the baselines: no sink cost)
#   2. into each HTTP sink (elasticsearch with ECS; datadog, loggly, splunk_hec and http with
#      raw records), gzip and the other defaults, against benches/http_receiver.rs: a loopback
#      receiver that accepts everything (one thread; it inflates each body to count it).
# Prints seconds, records/s, MB/s of request bodies (uncompressed; what the sink serialized),
# the compression ratio on the wire, trailhose's own CPU seconds (user + system) and CPU seconds
# per GB of body sent, and peak RSS. The receiver shares the two cores: its CPU is printed too.
#
# Usage: benches/http.sh [EVENTS]      (default 200000)
# Needs: GNU time, curl
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-200000}
dir=${BENCH_DIR:-target/bench-archive-${PRESET:-realistic}-$events}
source benches/archive.sh
cargo build --release --quiet --example http_receiver
tmp=$(mktemp -d)
target/release/examples/http_receiver 127.0.0.1:0 > "$tmp/addr" &
receiver=$!
trap 'kill $receiver 2>/dev/null || true; rm -rf "$tmp"' EXIT
until [ -s "$tmp/addr" ]; do sleep 0.1; done
url="http://$(head -1 "$tmp/addr")"
receiver_cpu() { awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$receiver/stat"; }

# Runs a command under GNU time; sets secs, cpu and rss_mb.
measure() {
  /usr/bin/time -o "$tmp/time" -f '%e %U %S %M' bash -c "$1" >/dev/null 2>"$tmp/stderr" || { cat "$tmp/stderr" >&2; exit 1; }
  read -r secs user sys rss < <(tail -1 "$tmp/time")
  cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
  rss_mb=$((rss / 1024))
}
records_of() { grep -o '^trailhose: [0-9,]* records out' "$tmp/stderr" | tr -dc '0-9'; }
stat_of() { curl -s "$url/stats" | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

printf '%-34s %7s %10s %9s %6s %8s %10s %7s %9s\n' run s rec/s "MB/s" ratio "cpu s" "cpu s/GB" "RSS MB" "recv cpu"
for format in raw ecs; do
  measure "'$bin' replay '$dir/AWSLogs' --format $format -o /dev/null"
  bytes=$("$bin" replay "$dir/AWSLogs" --format $format -q | wc -c)
  records=$(records_of)
  awk -v n="replay --format $format -o /dev/null" -v s="$secs" -v r="$records" -v b="$bytes" -v c="$cpu" -v m="$rss_mb" \
    'BEGIN { printf "%-34s %7.2f %10.0f %9.1f %6s %8.2f %10.2f %7d %9s\n", n, s, r/s, b/s/1e6, "-", c, c/(b/1e9), m, "-" }'
done

run_sink() { # name format toml-body
  cat > "$tmp/sink.toml" <<TOML
[source]
type = "dir"
paths = ["$dir/AWSLogs"]

[[sink]]
$3
format = "$2"
TOML
  curl -s -XPOST "$url/stats/reset" >/dev/null
  local r0; r0=$(receiver_cpu)
  measure "'$bin' run '$tmp/sink.toml'"
  local body wire r1; body=$(stat_of body_bytes); wire=$(stat_of wire_bytes); r1=$(receiver_cpu)
  awk -v n="$1" -v s="$secs" -v r="$(records_of)" -v b="$body" -v w="$wire" -v c="$cpu" -v m="$rss_mb" -v rc="$(awk -v a="$r0" -v b="$r1" 'BEGIN{print b-a}')" \
    'BEGIN { printf "%-34s %7.2f %10.0f %9.1f %6.1f %8.2f %10.2f %7d %9.2f\n", n, s, r/s, b/s/1e6, b/w, c, c/(b/1e9), m, rc }'
}
run_sink "elasticsearch (ecs, _bulk)" ecs "type = \"elasticsearch\"
endpoints = [\"$url\"]"
run_sink "datadog (raw)" raw "type = \"datadog\"
endpoint = \"$url\"
api_key = \"bench\""
run_sink "loggly (raw)" raw "type = \"loggly\"
endpoint = \"$url\"
token = \"bench\""
run_sink "splunk_hec (raw)" raw "type = \"splunk_hec\"
endpoint = \"$url\"
token = \"bench\""
run_sink "http (raw, ndjson)" raw "type = \"http\"
endpoint = \"$url/ingest\""
run_sink "http (raw, ndjson, no compression)" raw "type = \"http\"
endpoint = \"$url/ingest\"
compression = \"none\""
echo
echo "MB/s and cpu s/GB count request bodies before compression; ratio = body / wire bytes."
