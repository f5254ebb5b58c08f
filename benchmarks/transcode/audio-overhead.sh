#!/usr/bin/env bash
# What an AAC audio rendition costs on the wire: Prism's HLS audio segments against the ffmpeg CLI's (`-f hls`), both
# AAC 128 kbit/s from the 720p fixture's audio, bit/s per segment as ffprobe reads them (payload plus MPEG-TS overhead).
# Usage: benchmarks/transcode/audio-overhead.sh [WORKDIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=${1:-/tmp/prism-audio-overhead}
prism=${PRISM_BINARY:-$root/.build/release/prism}
rm -rf "$work" && mkdir -p "$work/ffmpeg"
"$prism" transcode "$root/fixtures/pan-720p.mp4" -o "$work/prism" --ladder 240p -q
ffmpeg -v error -i "$root/fixtures/pan-720p.mp4" -vn -c:a aac -b:a 128k -f hls -hls_time 2 -hls_segment_filename "$work/ffmpeg/s%d.ts" "$work/ffmpeg/index.m3u8"
rate() { ffprobe -v error -show_entries format=bit_rate,duration -of csv=p=0 "$1" | awk -F, '$1 > 1 { printf "%d", $2 / 1000 }'; }
echo "| segment | Prism kbit/s | ffmpeg CLI kbit/s |"
echo "| ---: | ---: | ---: |"
for i in 0 1 2; do
  echo "| $i | $(rate "$work/prism/audio/seg_0000$i.ts") | $(rate "$work/ffmpeg/s$i.ts") |"
done
