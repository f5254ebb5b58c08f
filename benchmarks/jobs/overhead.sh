#!/bin/sh
# What a general job costs over the farm against running it locally: the same busybox job, N times each way, with
# `prism run --image` (local plain sandbox) and `prism job submit` to one loopback farmer (blobs cached after the first).
# Usage: benchmarks/jobs/overhead.sh [N]   (needs bwrap, umoci, tar, /bin/busybox and a release build)
set -eu
N=${1:-10}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PRISM=${PRISM:-$ROOT/.build/release/prism}
WORK=$(mktemp -d /tmp/prism-job-bench.XXXXXX)
trap 'kill $FARMER 2>/dev/null || true; rm -rf "$WORK"' EXIT
umoci init --layout "$WORK/image" >/dev/null
umoci new --image "$WORK/image:latest" >/dev/null
umoci insert --rootless --image "$WORK/image:latest" /bin/busybox /bin/busybox >/dev/null
tar -cf "$WORK/image.tar" -C "$WORK/image" .
head -c 4000000 /dev/urandom > "$WORK/input.bin"
"$PRISM" keys generate --out "$WORK/farmer.key" >/dev/null
"$PRISM" farmer serve --listen 127.0.0.1:0 --key "$WORK/farmer.key" --data "$WORK/farm" --sessions 1 --claim-fps 5 > "$WORK/farmer.out" 2>&1 &
FARMER=$!
for _ in $(seq 100); do grep -q "listening on" "$WORK/farmer.out" && break; sleep 0.1; done
URL=$(grep -o "http://[^ ]*" "$WORK/farmer.out" | head -1)
JOB='/bin/busybox sha256sum /in/input.bin > /out/sum.txt'
now() { date +%s.%N; }
# One warm-up each way (the farmer unpacks the image into its cache on its first job; prism run unpacks every time).
"$PRISM" run --image "$WORK/image.tar" --input "$WORK/input.bin" --output "$WORK/local" -- /bin/busybox sh -c "$JOB"
"$PRISM" job submit --farmer "$URL" --image "$WORK/image.tar" --input "$WORK/input.bin" -o "$WORK/farm-out" -- /bin/busybox sh -c "$JOB"
start=$(now)
for i in $(seq "$N"); do "$PRISM" run --image "$WORK/image.tar" --input "$WORK/input.bin" --output "$WORK/local$i" -- /bin/busybox sh -c "$JOB"; done
local_s=$(echo "($(now) - $start) / $N" | bc -l)
start=$(now)
for i in $(seq "$N"); do "$PRISM" job submit --farmer "$URL" --image "$WORK/image.tar" --input "$WORK/input.bin" -o "$WORK/farm$i" -- /bin/busybox sh -c "$JOB"; done
farm_s=$(echo "($(now) - $start) / $N" | bc -l)
cmp "$WORK/local1/sum.txt" "$WORK/farm1/sum.txt"
printf 'jobs: %d each; prism run --image: %.3f s/job; prism job submit (loopback farmer, image cached): %.3f s/job; ratio %.2fx\n' \
    "$N" "$local_s" "$farm_s" "$(echo "$farm_s / $local_s" | bc -l)"
