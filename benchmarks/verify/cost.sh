#!/usr/bin/env bash
# Cost of verification: CPU seconds of a default `prism verify` of a 720p rung divided by the CPU seconds of the
# x264 `medium` encode that produced it (decode of the source included, as a farmer pays it). Best of 3 each.
# Three shapes: a 60 s 720p rung (source from benchmarks/make-source.sh, keyframes every 2 s in the rung, like
# prism transcode's segments), the whole 6 s fixture (same keyframe spacing) and one 2 s single-keyframe segment
# (what a submitter verifies per task).
# Usage: benchmarks/verify/cost.sh   (builds prism in release mode if needed)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
prism=${PRISM_BINARY:-$root/.build/release/prism}
[[ -x $prism ]] || (cd "$root" && swift build -c release --product prism >&2)
work=${TMPDIR:-/tmp}/prism-verify-cost
mkdir -p "$work"
ff=(ffmpeg -nostdin -v error -y)

cpu() {  # cpu COMMAND...: best user+sys seconds of $RUNS (default 3) runs
  local best=999999
  for _ in $(seq "${RUNS:-3}"); do
    # bash's own `time` (GNU time's rusage reading is unreliable in these containers).
    local t; t=$( { TIMEFORMAT="%U %S"; time "$@" >/dev/null 2>/dev/null; } 2>&1 | tail -1 | awk '{print $1 + $2}')
    if (( $(echo "$t < $best" | bc) )); then best=$t; fi
  done
  echo "$best"
}

[[ -f $work/long.mp4 ]] || "$root/benchmarks/make-source.sh" "$work/long.mp4" 1280 720 60 30
[[ -f $work/seg.mp4 ]] || "${ff[@]}" -i "$root/fixtures/pan-720p.mp4" -an -t 2 -c:v libx264 -preset fast -crf 16 -g 300 "$work/seg.mp4"
printf "%-34s %10s %10s %8s\n" case "encode cpu" "verify cpu" ratio
for shape in rung60 whole segment; do
  case $shape in
    rung60) src=$work/long.mp4; gop=(-g 60);;
    whole) src=$root/fixtures/pan-720p.mp4; gop=(-g 60);;
    segment) src=$work/seg.mp4; gop=();;
  esac
  out=$work/$shape-720p.mp4
  encode=("${ff[@]}" -i "$src" -an -c:v libx264 -preset medium -b:v 3000k "${gop[@]}" "$out")
  # One run of the minute-long encode is steady enough; the short ones take the best of three.
  if [[ $shape == rung60 ]]; then enc=$(RUNS=1 cpu "${encode[@]}"); else enc=$(cpu "${encode[@]}"); fi
  ver=$(cpu "$prism" verify --source "$src" --rendition "$out" --width 1280 --height 720 --bitrate 3000k --codec h264 --json)
  printf "%-34s %10s %10s %8s\n" "$shape ($(ffprobe -v error -count_packets -select_streams v:0 -show_entries stream=nb_read_packets -of csv=p=0 "$out") frames)" "$enc" "$ver" "$(echo "scale=3; $ver / $enc" | bc)"
  "$prism" verify --source "$src" --rendition "$out" --width 1280 --height 720 --bitrate 3000k --codec h264 --json \
    | python3 -c "import json,sys; d=json.load(sys.stdin); print('  verdict', d['verdict'], 'decoded source/rendition frames', d['cost']['sourceFramesDecoded'], d['cost']['renditionFramesDecoded'], 'reference frames encoded', d['cost']['referenceFramesEncoded'])"
done
