#!/usr/bin/env bash
# The Elasticsearch/OpenSearch sink benchmark: the `trailhose gen` archive benches/replay.sh
# uses, in one run,
#   1. trailhose replay DIR --format ecs -o /dev/null      (the baseline: no sink cost)
#   2. trailhose run: the same archive, ECS, into the elasticsearch sink (`_bulk`, gzip, _id =
#      eventID, per-item answers read) on osmem-server, an in-memory OpenSearch-compatible server
# on loopback (pip install osmem-server; set TRAILHOSE_OSMEM_SERVER to its binary, as the tests
# do). Prints seconds, MB/s of ECS documents, records/s, peak RSS, the documents osmem counted,
# and the CPU seconds osmem used: on a small machine it indexes on the same cores trailhose
# runs on, so it bounds what is measured here.
#
# Usage: benches/elasticsearch.sh [EVENTS]      (default 20000: osmem indexes a few hundred
# documents a second here, so it is the bottleneck; benches/http.sh measures the sink itself)
# Needs: curl, GNU time; pip install osmem-server
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-20000}
dir=${BENCH_DIR:-target/bench-archive-${PRESET:-realistic}-$events}
osmem=${TRAILHOSE_OSMEM_SERVER:?set TRAILHOSE_OSMEM_SERVER to the osmem-server binary (python -c "import osmem_server; print(osmem_server.resolve_binary())")}
source benches/archive.sh
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$osmem" -addr "127.0.0.1:$port" -no-stdin-watch >/dev/null 2>&1 &
server=$!
tmp=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$tmp"' EXIT
until curl -sf "http://127.0.0.1:$port/" >/dev/null; do sleep 0.1; done
server_cpu() { awk '{ printf "%.1f", ($14 + $15) / 100 }' "/proc/$server/stat"; }

measure() {
  /usr/bin/time -o "$tmp/time" -f '%e %M' bash -c "$1" >/dev/null 2>"$tmp/stderr" || { cat "$tmp/stderr" >&2; exit 1; }
  local out; out=$(tail -1 "$tmp/time")
  secs=${out% *}; rss_mb=$(( ${out#* } / 1024 ))
}
records_of() { grep -o '^trailhose: [0-9,]* records out' "$tmp/stderr" | tr -dc '0-9'; }

measure "'$bin' replay '$dir/AWSLogs' --format ecs -o /dev/null"
base_secs=$secs; base_rss=$rss_mb; records=$(records_of)
bytes=$("$bin" replay "$dir/AWSLogs" --format ecs -q | wc -c)

concurrency=${CONCURRENCY:-4}
cat > "$tmp/es.toml" <<TOML
[source]
type = "dir"
paths = ["$dir/AWSLogs"]

[[sink]]
type = "elasticsearch"
endpoints = ["http://127.0.0.1:$port"]
index = "cloudtrail-%Y.%m.%d"
concurrency = $concurrency
TOML
cpu0=$(server_cpu)
measure "'$bin' run '$tmp/es.toml'"
es_secs=$secs; es_rss=$rss_mb; es_records=$(records_of)
cpu1=$(server_cpu)
docs=$(curl -s "http://127.0.0.1:$port/cloudtrail-*/_count" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])')

awk -v r="$records" -v b="$bytes" -v n="$(nproc)" -v c="$concurrency" \
  'BEGIN { printf "archive: %d records, %.1f MB of ECS documents, %d cores, concurrency %d\n\n", r, b/1e6, n, c }'
row() { # name secs rss records
  awk -v n="$1" -v s="$2" -v rss="$3" -v rec="$4" -v b="$bytes" -v r="$records" \
    'BEGIN { printf "%-44s %8.2f s %8.1f MB/s %10.0f rec/s %6s MB RSS\n", n, s, b*rec/r/s/1e6, rec/s, rss }'
}
row "replay --format ecs -o /dev/null (baseline)" "$base_secs" "$base_rss" "$records"
row "elasticsearch sink -> osmem (_bulk, gzip)" "$es_secs" "$es_rss" "$es_records"
awk -v a="$base_secs" -v b="$es_secs" -v c0="$cpu0" -v c1="$cpu1" -v d="$docs" -v r="$records" \
  'BEGIN { printf "\nsink run / baseline: %.2f of the baseline rate; osmem counted %d documents of %d; osmem CPU %.1f s\n", a/b, d, r, c1-c0 }'
