#!/usr/bin/env bash
# Ladder quality at the asked bitrate: `prism transcode` against the ffmpeg CLI doing the same job (libx264 medium,
# the same -b:v per rung, 2 s closed GOPs, HLS), delivered kbit/s and VMAF v0.6.1 against the source.
# The source is a 10 s 1280x720 camera-like clip made by benchmarks/make-source.sh (not a fixture).
# VMAF needs an FFmpeg with libvmaf: the one inside PyPI's imageio-ffmpeg (pip install imageio-ffmpeg), for this
# benchmark only. Usage: benchmarks/transcode/quality.sh [WORKDIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=${1:-/tmp/prism-quality}
mkdir -p "$work"
src=$work/source-720p.mp4
[[ -f $src ]] || "$root/benchmarks/make-source.sh" "$src" 1280 720 10 30
vmaf_ffmpeg=$(python3 -c "import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())")
prism=${PRISM_BINARY:-$root/.build/release/prism}
rungs=("720 3000" "360 800" "240 300")
rm -rf "$work/ffmpeg" "$work/prism"
mkdir -p "$work/ffmpeg"
for rung in "${rungs[@]}"; do
  read -r h kbps <<<"$rung"
  ffmpeg -v error -y -i "$src" -an -vf "scale=-2:$h" -c:v libx264 -preset medium -b:v "${kbps}k" -g 60 -keyint_min 60 -sc_threshold 0 \
    -f hls -hls_time 2 -hls_playlist_type vod -hls_segment_filename "$work/ffmpeg/${h}p_%03d.ts" "$work/ffmpeg/${h}p.m3u8"
done
"$prism" transcode "$src" -o "$work/prism" --ladder 720p@3000k,360p@800k,240p@300k -q
duration=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$src")
echo "| rung | asked kbit/s | prism kbit/s | ffmpeg kbit/s | VMAF prism | VMAF ffmpeg |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
for rung in "${rungs[@]}"; do
  read -r h kbps <<<"$rung"
  row="| ${h}p | $kbps"
  for tool in prism ffmpeg; do
    if [[ $tool == prism ]]; then files=("$work/prism/${h}p"/*.ts); else files=("$work/ffmpeg/${h}p_"*.ts); fi
    bytes=$(cat "${files[@]}" | wc -c)
    row="$row | $(python3 -c "print(round($bytes * 8 / $duration / 1000))")"
  done
  for tool in prism ffmpeg; do
    if [[ $tool == prism ]]; then playlist=$work/prism/${h}p/index.m3u8; else playlist=$work/ffmpeg/${h}p.m3u8; fi
    score=$("$vmaf_ffmpeg" -i "$playlist" -i "$src" -lavfi "[0:v]setpts=PTS-STARTPTS,scale=1280:720:flags=bicubic[d];[1:v]setpts=PTS-STARTPTS[r];[d][r]libvmaf=n_threads=2" \
      -f null - 2>&1 | grep -o "VMAF score: [0-9.]*" | cut -d' ' -f3)
    row="$row | $score"
  done
  echo "$row |"
done
