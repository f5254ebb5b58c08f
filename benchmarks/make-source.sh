#!/usr/bin/env bash
# Makes a longer benchmark source (not committed) the way fixtures/make-fixtures.sh makes clips:
# a virtual camera panning and zooming across a packaged photograph, with sensor-like noise.
# Usage: benchmarks/make-source.sh OUT.mp4 [WIDTH HEIGHT SECONDS FPS]   (PHOTO=path picks another photograph)
set -euo pipefail
out=$1; w=${2:-1920}; h=${3:-1080}; secs=${4:-20}; fps=${5:-30}
photo=${PHOTO:-/usr/share/backgrounds/picosdeeuropa_by_Aitzol_Berasategi.jpg}
[[ -f $photo ]] || { echo "missing $photo: apt-get install ukui-wallpapers lomiri-wallpapers" >&2; exit 2; }
frames=$((secs * fps))
ffmpeg -v error -y -loop 1 -framerate "$fps" -i "$photo" -t "$secs" -filter_complex "
  [0:v]scale=-2:$((h * 2)),
  scale=w='trunc(iw*(1+0.3*n/$frames)/2)*2':h='trunc(ih*(1+0.3*n/$frames)/2)*2':eval=frame,
  crop=w=$w:h=$h:x='(iw-$w)*(0.1+0.7*n/$frames)+6*sin(n/3.1)':y='(ih-$h)*0.4+5*sin(n/4.7+1)',
  noise=alls=4:allf=t,format=yuv420p[v]" -map "[v]" -c:v libx264 -preset slow -crf 18 -g 250 "$out"
