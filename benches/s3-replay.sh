#!/usr/bin/env bash
# The S3 replay benchmark: the same `trailhose gen` archive replayed from a local directory and
# from a real S3 server on loopback, in one run. The server is s3s-fs (a Rust S3 server over a
# folder, from crates.io; installed into target/tools on first use). It is measured twice: as
# it is, and behind benches/latency_proxy.rs, which holds every request LATENCY_MS (default
# 30) as S3 in the same region takes, once at the default settings (the fetch limit adapts) and
# once with the limit fixed at its starting 64. With MOTO=1, moto's standalone server too
# (Python, from PyPI; much slower: it bounds the replay, not trailhose).
#
# Prints, per row, seconds (median and min of RUNS, default 3), throughput, and trailhose's own
# CPU seconds (user + system, median; the servers' CPU is not in it and is printed apart: on a
# small machine they compete for the same cores); then objects/s and MB/s of the delayed rows
# and each S3 row's CPU against the local replay (target: at most 1.3).
#
# Usage: benches/s3-replay.sh [EVENTS]     (default 200000)
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-200000}
dir=${BENCH_DIR:-target/bench-archive-${PRESET:-realistic}-$events}
runs=${RUNS:-3}
latency=${LATENCY_MS:-30}
source benches/archive.sh
source benches/measure.sh
if [ ! -x target/tools/bin/s3s-fs ]; then
  cargo install --quiet s3s-fs@0.14.1 --features binary --root target/tools
fi
cargo build --release --quiet --example latency_proxy
# The bucket is a folder named after it: a copy of the archive's AWSLogs/ tree.
root=target/s3-bench-root-$(basename "$dir")
if [ ! -d "$root/bench/AWSLogs" ]; then
  rm -rf "$root"; mkdir -p "$root/bench"
  cp -r "$dir/AWSLogs" "$root/bench/AWSLogs"
fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
target/tools/bin/s3s-fs --host 127.0.0.1 --port "$port" --access-key bench --secret-key bench "$root" >/dev/null 2>&1 &
server=$!
# Both rows go through the proxy: with no delay it is the loopback baseline, without the 40 ms
# s3s-fs's answers take when the client delays its ACKs (see latency_proxy.rs).
near=$(free_port)
target/release/examples/latency_proxy "127.0.0.1:$near" "127.0.0.1:$port" 0 &
proxy=$!
slow=$(free_port)
target/release/examples/latency_proxy "127.0.0.1:$slow" "127.0.0.1:$port" "$latency" &
proxy2=$!
trap 'kill $server $proxy $proxy2 2>/dev/null || true' EXIT
sleep 1
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1
cpu_of() { awk '{ print ($14 + $15) / 100 }' "/proc/$1/stat"; }
s3="$bin replay s3://bench --path-style -o /dev/null -q --endpoint-url"

bench "trailhose replay DIR" "$bin replay '$dir/AWSLogs' -o /dev/null -q" "$runs" dir_s
dir_cpu=$cpu_secs
c0=$(cpu_of $server)
bench "replay s3:// (loopback)" "$s3 http://127.0.0.1:$near" "$runs" s3_s
s3_cpu=$cpu_secs
c1=$(cpu_of $server)
bench "replay s3:// (+${latency} ms, adaptive)" "$s3 http://127.0.0.1:$slow" "$runs" lat_s
lat_cpu=$cpu_secs
bench "replay s3:// (+${latency} ms, fixed 64)" "$s3 http://127.0.0.1:$slow --fetch-concurrency-max 64" "$runs" fixed_s
fixed_cpu=$cpu_secs

files=$(find "$dir/AWSLogs" -path '*/CloudTrail/*' -name '*.json.gz' | wc -l)
stored=$(find "$dir/AWSLogs" -path '*/CloudTrail/*' -name '*.json.gz' -printf '%s\n' | awk '{ s += $1 } END { print s }')
decompressed=$(find "$dir/AWSLogs" -path '*/CloudTrail/*' -name '*.json.gz' -print0 | xargs -0 zcat | wc -c)
printf 'archive: %d log files, %.1f MB stored, %d events, %d cores; server CPU per loopback run: %.2f s\n' \
  "$files" "$(echo "$stored / 1000000" | bc -l)" "$events" "$(nproc)" "$(echo "($c1 - $c0) / $runs" | bc -l)"
print_rows "$decompressed" "$events"
for row in "adaptive $lat_s" "fixed-64 $fixed_s"; do
  read -r name s <<< "$row"
  printf '+%s ms, %-9s %8.0f objects/s %7.1f MB/s (stored)\n' "$latency" "$name" \
    "$(echo "$files / $s" | bc -l)" "$(echo "$stored / $s / 1000000" | bc -l)"
done
printf 'CPU against the local replay (target <= 1.3): loopback %.2f, +%s ms adaptive %.2f, fixed %.2f\n' \
  "$(echo "$s3_cpu / $dir_cpu" | bc -l)" "$latency" "$(echo "$lat_cpu / $dir_cpu" | bc -l)" "$(echo "$fixed_cpu / $dir_cpu" | bc -l)"
printf 'CPU per object above the local replay: %.3f ms (loopback)\n' \
  "$(echo "($s3_cpu - $dir_cpu) * 1000 / $files" | bc -l)"
if [ "${MOTO:-0}" = 1 ]; then
  mport=$(free_port)
  "${TRAILHOSE_MOTO_SERVER:-moto_server}" -H 127.0.0.1 -p "$mport" >/dev/null 2>&1 &
  moto=$!
  trap 'kill $server $proxy $proxy2 $moto 2>/dev/null || true' EXIT
  sleep 2
  python3 - "$mport" "$dir/AWSLogs" <<'PY'
import os, sys, urllib.request
port, root = sys.argv[1], sys.argv[2]
def put(path, data=b""):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/{path}", data=data, method="PUT")
    urllib.request.urlopen(req).read()
put("bench")
for d, _, files in os.walk(root):
    for f in files:
        p = os.path.join(d, f)
        put("bench/AWSLogs/" + os.path.relpath(p, root), open(p, "rb").read())
PY
  measure "$s3 http://127.0.0.1:$mport" 1
  printf '%-40s %7.2f s, trailhose CPU %.2f s\n' "replay s3:// (moto on loopback)" "$secs" "$cpu_secs"
fi
