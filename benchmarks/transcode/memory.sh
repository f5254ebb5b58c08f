#!/usr/bin/env bash
# Peak memory of one job: `prism transcode` of a 4-rung ladder from a 1080p source against the ffmpeg CLI doing
# the same job in one process (decode once, split, scale, libx264 medium per rung, 2 s closed GOPs, HLS), both at
# their defaults, peak resident set size from GNU time. The source is a 10 s 1920x1080 camera-like clip made by
# benchmarks/make-source.sh (not a fixture). Usage: benchmarks/transcode/memory.sh [WORKDIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=${1:-/tmp/prism-memory}
mkdir -p "$work"
src=$work/source-1080p.mp4
[[ -f $src ]] || "$root/benchmarks/make-source.sh" "$src" 1920 1080 10 30
prism=${PRISM_BINARY:-$root/.build/release/prism}
rm -rf "$work/prism" "$work/ffmpeg"
mkdir -p "$work/ffmpeg"
peak() { /usr/bin/time -f "%M %e %U %S" "$@" 2>&1 >/dev/null | tail -1; }
read -r prism_kb prism_wall prism_user prism_sys < <(peak "$prism" transcode "$src" -o "$work/prism" --ladder 1080p@5000k,720p@3000k,480p@1600k,360p@800k -q)
rungs=("1080 5000" "720 3000" "480 1600" "360 800")
filter="[0:v]split=4[s0][s1][s2][s3]"
maps=()
for i in "${!rungs[@]}"; do
  read -r h kbps <<<"${rungs[$i]}"
  filter="$filter;[s$i]scale=-2:$h[v$i]"
  maps+=(-map "[v$i]" -c:v libx264 -preset medium -b:v "${kbps}k" -g 60 -keyint_min 60 -sc_threshold 0
         -f hls -hls_time 2 -hls_playlist_type vod -hls_segment_filename "$work/ffmpeg/${h}p_%03d.ts" "$work/ffmpeg/${h}p.m3u8")
done
read -r ffmpeg_kb ffmpeg_wall ffmpeg_user ffmpeg_sys < <(peak ffmpeg -v error -y -i "$src" -an -filter_complex "$filter" "${maps[@]}")
echo "| tool | peak RSS MiB | wall s | CPU s |"
echo "| --- | ---: | ---: | ---: |"
echo "| prism transcode | $((prism_kb / 1024)) | $prism_wall | $(python3 -c "print(round($prism_user + $prism_sys, 1))") |"
echo "| ffmpeg CLI | $((ffmpeg_kb / 1024)) | $ffmpeg_wall | $(python3 -c "print(round($ffmpeg_user + $ffmpeg_sys, 1))") |"
echo "ratio: $(python3 -c "print(round($prism_kb / $ffmpeg_kb, 2))")x ffmpeg's peak"
