#!/usr/bin/env python3
"""How to cut a source with one keyframe into 2 s segments: the trade-off, measured.

(a) decode once and hand each segment's frames to its worker (what `prism transcode` does);
(b) per segment, seek to the previous keyframe and decode up to the segment's end (frame ranges: what an
    independent segment task must do when it only has the original file);
(c) cut a mezzanine: decode once and re-encode each segment losslessly (x264 qp 0, ultrafast) so tasks
    get standalone files (what a submitter sending segments to farmers needs).
Decode/cut costs only; the ladder encode after it is the same in all three.

Usage: benchmarks/segmenting/run.py [--seconds 20]
"""
import argparse, os, shutil, subprocess, sys, tempfile
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchlib import ROOT, measure, ffmpeg_version, write_section


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=20)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="prism-seg-")
    raw = os.path.join(work, "raw.mp4")
    subprocess.run([os.path.join(ROOT, "benchmarks/make-source.sh"), raw, "1280", "720", str(args.seconds), "30"], check=True)
    source = os.path.join(work, "one-keyframe.mp4")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", raw, "-c:v", "libx264", "-preset", "veryfast", "-crf", "20",
                    "-x264-params", "keyint=infinite:scenecut=0", source], check=True)
    segments = args.seconds // 2
    once = measure(["ffmpeg", "-v", "error", "-threads", "1", "-i", source, "-f", "null", "-"])
    ranges = [0.0, 0.0]
    for k in range(segments):
        wall, cpu, _ = measure(["ffmpeg", "-v", "error", "-threads", "1", "-ss", str(2 * k), "-i", source, "-t", "2", "-f", "null", "-"])
        ranges[0] += wall
        ranges[1] += cpu
    mezz = measure(["ffmpeg", "-v", "error", "-threads", "1", "-i", source, "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0",
                    "-force_key_frames", "expr:gte(t,n_forced*2)", "-f", "segment", "-segment_time", "2", "-reset_timestamps", "1",
                    os.path.join(work, "mezz_%03d.mkv")])
    mezz_bytes = sum(os.path.getsize(os.path.join(work, f)) for f in os.listdir(work) if f.startswith("mezz_"))
    src_bytes = os.path.getsize(source)
    write_section("segmenting-benchmark", [
        "## Segmenting a source with a single keyframe",
        "",
        f"Reproduce: `benchmarks/segmenting/run.py --seconds {args.seconds}` (FFmpeg {ffmpeg_version()}, one decoder thread each).",
        f"Source: 1280x720 30 fps, {args.seconds} s, one keyframe (x264 keyint=infinite), {segments} segments of 2 s.",
        "",
        "| approach | CPU (s) | wall (s) | CPU ÷ (a) | extra bytes |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| (a) decode once, frames handed to segment workers (`prism transcode`) | {once[1]:.2f} | {once[0]:.2f} | 1.00 | 0 |",
        f"| (b) per segment: seek to previous keyframe, decode to its end | {ranges[1]:.2f} | {ranges[0]:.2f} | {ranges[1] / once[1]:.2f} | 0 |",
        f"| (c) lossless mezzanine segments (x264 qp 0 ultrafast) | {mezz[1]:.2f} | {mezz[0]:.2f} | {mezz[1] / once[1]:.2f} | {mezz_bytes / 1e6:.0f} MB ({mezz_bytes / src_bytes:.0f}× the source) |",
        "",
        "(b) grows with the square of the distance between keyframes: with one keyframe, segment k decodes k+1 segments' "
        "worth of frames. (a) costs one decode but needs the segments' frames in one process, so `prism transcode` uses it "
        "and holds at most `--workers` segments of decoded frames. (c) costs about one extra fast encode and much larger "
        "files but gives standalone segments that start with a keyframe, which is what tasks sent to other machines need.",
    ])
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
