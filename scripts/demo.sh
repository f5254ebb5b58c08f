#!/usr/bin/env bash
# Installs dependencies, builds Prism and turns the bundled clip into an HLS ladder in out/demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --product prism
input=${1:-fixtures/pan-720p.mp4}
mkdir -p out
.build/release/prism transcode "$input" -o out/demo --ladder 720p,480p,360p
echo "ladder written to out/demo/master.m3u8 (play it with: ffplay out/demo/master.m3u8)" >&2
