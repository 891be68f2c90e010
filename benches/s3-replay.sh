#!/usr/bin/env bash
# The S3 replay benchmark: the same `trailhose gen` archive replayed from a local directory and
# from a real S3 server on loopback, in one run. The server is s3s-fs (a Rust S3 server over a
# folder, from crates.io; installed into target/tools on first use) and, with MOTO=1, moto's
# standalone server (Python, from PyPI; much slower: it bounds the replay, not trailhose).
# Prints seconds (median of RUNS, default 3), the S3/dir throughput ratio, and the CPU time the
# server itself used: on a small machine it competes with trailhose for the same cores.
#
# Usage: benches/s3-replay.sh [EVENTS]     (default 700000: the archive benches/replay.sh uses)
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-700000}
dir=${BENCH_DIR:-target/bench-archive-${PRESET:-realistic}-$events}
runs=${RUNS:-3}
source benches/archive.sh
if [ ! -x target/tools/bin/s3s-fs ]; then
  cargo install --quiet s3s-fs@0.14.1 --features binary --root target/tools
fi
# The bucket is a folder named after it: a copy of the archive's AWSLogs/ tree.
root=target/s3-bench-root
if [ ! -d "$root/bench/AWSLogs" ]; then
  rm -rf "$root"; mkdir -p "$root/bench"
  cp -r "$dir/AWSLogs" "$root/bench/AWSLogs"
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
target/tools/bin/s3s-fs --host 127.0.0.1 --port "$port" --access-key bench --secret-key bench "$root" >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
sleep 1
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
timed() { # command...; prints seconds
  local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1; t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l
}
cpu_of() { awk '{ print ($14 + $15) / 100 }' "/proc/$1/stat"; }
dir_secs=$(for _ in $(seq "$runs"); do timed "$bin" replay "$dir/AWSLogs" -o /dev/null -q; done | median)
c0=$(cpu_of $server)
s3_secs=$(for _ in $(seq "$runs"); do
  timed "$bin" replay s3://bench --endpoint-url "http://127.0.0.1:$port" --path-style -o /dev/null -q --fetch-concurrency "${FETCH:-256}"
done | median)
c1=$(cpu_of $server)
server_cpu=$(echo "($c1 - $c0) / $runs" | bc -l)
files=$(find "$dir/AWSLogs" -path '*/CloudTrail/*' -name '*.json.gz' | wc -l)
printf 'archive: %d log files, %d cores\n' "$files" "$(nproc)"
printf '%-46s %7.2f s\n' "trailhose replay DIR" "$dir_secs"
printf '%-46s %7.2f s   (server CPU per run: %.2f s)\n' "trailhose replay s3:// (s3s-fs on loopback)" "$s3_secs" "$server_cpu"
printf 'S3 vs dir throughput: %.2f (target >= 0.80)\n' "$(echo "$dir_secs / $s3_secs" | bc -l)"
if [ "${MOTO:-0}" = 1 ]; then
  mport=$((port + 1))
  "${TRAILHOSE_MOTO_SERVER:-moto_server}" -H 127.0.0.1 -p "$mport" >/dev/null 2>&1 &
  moto=$!
  trap 'kill $server $moto 2>/dev/null || true' EXIT
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
  moto_secs=$(timed "$bin" replay s3://bench --endpoint-url "http://127.0.0.1:$mport" --path-style -o /dev/null -q)
  printf '%-46s %7.2f s\n' "trailhose replay s3:// (moto on loopback)" "$moto_secs"
fi
