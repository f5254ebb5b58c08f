#!/usr/bin/env bash
# Full-frame PSNR+SSIM speed: `prism metrics` against `ffmpeg -lavfi "[0][1]ssim;[0][1]psnr"` on the same
# pair (the 720p fixture and an x264 encode of it), same machine, same run. Prints CPU and wall seconds,
# best of 3 runs each. Usage: benchmarks/verify/metrics-speed.sh   (builds prism in release mode if needed)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
prism=${PRISM_BINARY:-$root/.build/release/prism}
[[ -x $prism ]] || (cd "$root" && swift build -c release --product prism >&2)
work=${TMPDIR:-/tmp}/prism-metrics-bench
mkdir -p "$work"
ref=$root/fixtures/pan-720p.mp4
dist=$work/pan-720p-x264-1500k.mp4
[[ -f $dist ]] || ffmpeg -nostdin -v error -y -i "$ref" -an -c:v libx264 -preset veryfast -b:v 1500k "$dist"

# best TOOL: runs the rest of the line 3 times, prints the best "user+sys wall" seconds.
best() {
  local best_cpu=999999 best_wall=999999
  for _ in 1 2 3; do
    # bash's own `time` (GNU time's rusage reading is unreliable in these containers).
    local out
    out=$( { TIMEFORMAT="%U %S %R"; time "$@" >/dev/null 2>/dev/null; } 2>&1 | tail -1)
    read -r u s e <<<"$out"
    local cpu; cpu=$(echo "$u + $s" | bc)
    if (( $(echo "$cpu < $best_cpu" | bc) )); then best_cpu=$cpu; fi
    if (( $(echo "$e < $best_wall" | bc) )); then best_wall=$e; fi
  done
  echo "$best_cpu $best_wall"
}

frames=$(ffprobe -v error -count_packets -select_streams v:0 -show_entries stream=nb_read_packets -of csv=p=0 "$dist")
read -r p_cpu p_wall <<<"$(best "$prism" metrics --reference "$ref" --distorted "$dist" --json)"
read -r f_cpu f_wall <<<"$(best ffmpeg -nostdin -hide_banner -i "$dist" -i "$ref" -lavfi "[0][1]ssim;[0][1]psnr" -f null -)"
echo "pair: pan-720p.mp4 (1280x720, $frames frames) vs x264 veryfast 1500k, $(nproc) cores"
printf "%-28s %8s %8s\n" tool "cpu s" "wall s"
printf "%-28s %8s %8s\n" "prism metrics (release)" "$p_cpu" "$p_wall"
printf "%-28s %8s %8s\n" "ffmpeg -lavfi ssim,psnr" "$f_cpu" "$f_wall"
echo "prism / ffmpeg wall: $(echo "scale=2; $p_wall / $f_wall" | bc)   cpu: $(echo "scale=2; $p_cpu / $f_cpu" | bc)"
echo "prism:  $("$prism" metrics --reference "$ref" --distorted "$dist" --json)"
echo "ffmpeg: $(ffmpeg -nostdin -hide_banner -i "$dist" -i "$ref" -lavfi "[0][1]ssim;[0][1]psnr" -f null - 2>&1 | grep -oE '(SSIM|PSNR) [yY]:.*' | tr '\n' ' ')"
