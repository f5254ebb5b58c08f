#!/usr/bin/env bash
# Ladder quality at the asked bitrate: `prism transcode` (two passes per segment, the default, and `--passes 1`) against
# the ffmpeg CLI doing the same job (libx264 medium, the same -b:v per rung, 2 s closed GOPs, HLS): delivered kbit/s
# (the video stream's packets, and the files with their MPEG-TS overhead) and VMAF v0.6.1 against the source.
# Sources (not fixtures), made with benchmarks/make-source.sh: `camera`, a 10 s 1280x720 camera-like pan over one
# photograph; `cuts`, 10 s of three photographs (3 s, 4 s, 3 s) with hard cuts inside segments.
# VMAF needs an FFmpeg with libvmaf: the one inside PyPI's imageio-ffmpeg (pip install imageio-ffmpeg), for this
# benchmark only. Usage: benchmarks/transcode/quality.sh [WORKDIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=${1:-/tmp/prism-quality}
mkdir -p "$work"
photos=/usr/share/backgrounds
[[ -f $work/source-720p.mp4 ]] || "$root/benchmarks/make-source.sh" "$work/source-720p.mp4" 1280 720 10 30
if [[ ! -f $work/cuts-720p.mp4 ]]; then
  PHOTO=$photos/Bridge_by_Sander_Klootwijk.jpg "$root/benchmarks/make-source.sh" "$work/cut-a.mp4" 1280 720 3 30
  PHOTO=$photos/Kleiber_by_Lukas_Baubkus.jpg "$root/benchmarks/make-source.sh" "$work/cut-b.mp4" 1280 720 4 30
  PHOTO=$photos/sunset_by_Aitzol_Berasategi.jpg "$root/benchmarks/make-source.sh" "$work/cut-c.mp4" 1280 720 3 30
  ffmpeg -v error -y -i "$work/cut-a.mp4" -i "$work/cut-b.mp4" -i "$work/cut-c.mp4" -filter_complex "concat=n=3:v=1" \
    -c:v libx264 -preset slow -crf 18 -g 250 "$work/cuts-720p.mp4"
fi
vmaf_ffmpeg=$(python3 -c "import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())")
prism=${PRISM_BINARY:-$root/.build/release/prism}
rungs=("720 3000" "360 800" "240 300")
ladder=720p@3000k,360p@800k,240p@300k

kbps() { python3 -c "print(round($1 * 8 / $2 / 1000))"; }
video_bytes() { ffprobe -v error -select_streams v:0 -show_entries packet=size -of csv=p=0 "$1" | awk '{s += $1} END {print s}'; }
vmaf() {
  "$vmaf_ffmpeg" -i "$1" -i "$2" -lavfi "[0:v]setpts=PTS-STARTPTS,scale=1280:720:flags=bicubic[d];[1:v]setpts=PTS-STARTPTS[r];[d][r]libvmaf=n_threads=2" \
    -f null - 2>&1 | grep -o "VMAF score: [0-9.]*" | cut -d' ' -f3
}
cpu() { /usr/bin/time -f "%U %S" "$@" 2>&1 >/dev/null | tail -1 | awk '{printf "%.1f", $1 + $2}'; }

for name in source cuts; do
  src=$work/$name-720p.mp4
  out=$work/$name
  rm -rf "$out"
  mkdir -p "$out/ffmpeg"
  ffmpeg_cpu=0
  for rung in "${rungs[@]}"; do
    read -r h rate <<<"$rung"
    seconds=$(cpu ffmpeg -v error -y -i "$src" -an -vf "scale=-2:$h" -c:v libx264 -preset medium -b:v "${rate}k" -g 60 -keyint_min 60 -sc_threshold 0 \
      -f hls -hls_time 2 -hls_playlist_type vod -hls_segment_filename "$out/ffmpeg/${h}p_%03d.ts" "$out/ffmpeg/${h}p.m3u8")
    ffmpeg_cpu=$(python3 -c "print(round($ffmpeg_cpu + $seconds, 1))")
  done
  two_cpu=$(cpu "$prism" transcode "$src" -o "$out/prism" --ladder "$ladder" -q)
  one_cpu=$(cpu "$prism" transcode "$src" -o "$out/prism1" --ladder "$ladder" --passes 1 -q)
  duration=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$src")
  label=$([[ $name == source ]] && echo camera || echo cuts)
  echo "### $label ($(basename "$src")): CPU s, ffmpeg CLI $ffmpeg_cpu, prism two passes $two_cpu, prism one pass $one_cpu"
  echo
  echo "| rung | asked kbit/s | video kbit/s: prism / 1 pass / ffmpeg | files kbit/s: prism / 1 pass / ffmpeg | VMAF prism | VMAF 1 pass | VMAF ffmpeg |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
  for rung in "${rungs[@]}"; do
    read -r h rate <<<"$rung"
    playlists=("$out/prism/${h}p/index.m3u8" "$out/prism1/${h}p/index.m3u8" "$out/ffmpeg/${h}p.m3u8")
    files=("$out/prism/${h}p/*.ts" "$out/prism1/${h}p/*.ts" "$out/ffmpeg/${h}p_*.ts")
    video=() wire=() scores=()
    for i in 0 1 2; do
      video+=("$(kbps "$(video_bytes "${playlists[$i]}")" "$duration")")
      # shellcheck disable=SC2086
      wire+=("$(kbps "$(cat ${files[$i]} | wc -c)" "$duration")")
      scores+=("$(vmaf "${playlists[$i]}" "$src")")
    done
    echo "| ${h}p | $rate | ${video[0]} / ${video[1]} / ${video[2]} | ${wire[0]} / ${wire[1]} / ${wire[2]} | ${scores[0]} | ${scores[1]} | ${scores[2]} |"
  done
  echo
done
