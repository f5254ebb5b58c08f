#!/usr/bin/env python3
"""Prism transcode vs the ffmpeg CLI on the same source and ladder, in the same run.

Both sides: libx264 at the same preset and bitrates, 2 s segments with an IDR at each, one process
(ffmpeg: one decode with `split`, one scale per rung). Records wall time, CPU time, peak memory
(max RSS of the process) and each rung's mean SSIM against the source (FFmpeg's ssim filter, the
source scaled to the rung with bicubic), then rewrites the transcode section of benchmarks/RESULTS.md.

Usage: benchmarks/transcode/run.py [--source FILE] [--runs N] [--preset medium] [--prism PATH]
"""
import argparse, json, os, re, shutil, subprocess, sys, tempfile, time
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchlib import ROOT, measure, ffmpeg_version, write_section

LADDER = [(720, 3_000_000), (480, 1_600_000), (360, 800_000)]


def probe(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "stream=width,height,r_frame_rate", "-show_entries", "format=duration", "-of", "json", path],
                         capture_output=True, text=True, check=True).stdout
    info = json.loads(out)
    s = info["streams"][0]
    num, den = map(int, s["r_frame_rate"].split("/"))
    return s["width"], s["height"], num / den, float(info["format"]["duration"])


def width_for(src_w, src_h, height):
    return max(2, round(src_w * height / src_h / 2) * 2)


def ssim(rendition, source, width, height):
    graph = f"[1:v]scale={width}:{height}:flags=bicubic[ref];[0:v][ref]ssim"
    err = subprocess.run(["ffmpeg", "-v", "info", "-nostats", "-i", rendition, "-i", source, "-lavfi", graph, "-f", "null", "-"],
                         capture_output=True, text=True).stderr
    match = re.search(r"All:([0-9.]+)", err)
    return float(match.group(1)) if match else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--preset", default="medium")
    ap.add_argument("--prism", default=os.path.join(ROOT, ".build/release/prism"))
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="prism-bench-")
    source = args.source or os.path.join(work, "source.mp4")
    if not args.source:
        subprocess.run([os.path.join(ROOT, "benchmarks/make-source.sh"), source], check=True)
    sw, sh, fps, duration = probe(source)
    rungs = [(h, b, width_for(sw, sh, h)) for h, b in LADDER if h <= sh]
    ladder = ",".join(f"{h}p@{b // 1000}k" for h, b, _ in rungs)

    prism_out = os.path.join(work, "prism")
    prism_cmd = [args.prism, "transcode", source, "-o", prism_out, "--ladder", ladder, "--preset", args.preset,
                 "--encoder", "software", "-q"]
    split = f"[0:v]split={len(rungs)}" + "".join(f"[s{i}]" for i in range(len(rungs))) + ";" + ";".join(
        f"[s{i}]scale={w}:{h}:flags=bicubic[o{i}]" for i, (h, _, w) in enumerate(rungs))
    ff_out = os.path.join(work, "ffmpeg")
    ff_cmd = ["ffmpeg", "-v", "error", "-y", "-i", source, "-filter_complex", split]
    for i, (h, b, w) in enumerate(rungs):
        os.makedirs(os.path.join(ff_out, f"{h}p"), exist_ok=True)
        ff_cmd += ["-map", f"[o{i}]", "-c:v", "libx264", "-preset", args.preset, "-b:v", str(b),
                   "-force_key_frames", "expr:gte(t,n_forced*2)", 
                   "-f", "hls", "-hls_time", "2", "-hls_playlist_type", "vod", "-hls_segment_filename",
                   os.path.join(ff_out, f"{h}p", "seg_%05d.ts"), os.path.join(ff_out, f"{h}p", "index.m3u8")]

    results = {"prism": [], "ffmpeg": []}
    for _ in range(args.runs):
        for name, cmd in (("ffmpeg", ff_cmd), ("prism", prism_cmd)):
            shutil.rmtree(prism_out, ignore_errors=True)
            results[name].append(measure(cmd))
    quality = {}
    for h, b, w in rungs:
        quality[h] = (ssim(os.path.join(prism_out, f"{h}p", "index.m3u8"), source, w, h),
                      ssim(os.path.join(ff_out, f"{h}p", "index.m3u8"), source, w, h))

    def best(name, index):
        return min(r[index] for r in results[name])

    pw, fw = best("prism", 0), best("ffmpeg", 0)
    pc, fc = best("prism", 1), best("ffmpeg", 1)
    pm, fm = best("prism", 2), best("ffmpeg", 2)
    cores = os.cpu_count()
    lines = [
        "## Transcode: `prism transcode` vs the ffmpeg CLI",
        "",
        f"Reproduce: `swift build -c release && benchmarks/transcode/run.py --runs {args.runs} --preset {args.preset}`",
        f"(last run {time.strftime('%Y-%m-%d')}, {cores} cores, FFmpeg {ffmpeg_version()}).",
        "",
        f"Source: {sw}x{sh} {fps:.0f} fps, {duration:.1f} s, made by `benchmarks/make-source.sh` (photo pan/zoom with noise).",
        f"Ladder {ladder}, libx264 preset `{args.preset}`, 2 s segments with an IDR each; ffmpeg: one process, `split` + "
        "`scale` (bicubic) per rung, three HLS outputs. Best of the runs for each measure.",
        "",
        "| measure | prism | ffmpeg | prism ÷ ffmpeg |",
        "| --- | ---: | ---: | ---: |",
        f"| wall time (s) | {pw:.2f} | {fw:.2f} | {pw / fw:.2f} |",
        f"| CPU time (s) | {pc:.2f} | {fc:.2f} | {pc / fc:.2f} |",
        f"| peak memory (MiB, max RSS) | {pm:.0f} | {fm:.0f} | {pm / fm:.2f} |",
    ]
    for h, (p, f) in quality.items():
        lines.append(f"| SSIM {h}p vs source | {p:.4f} | {f:.4f} | Δ {p - f:+.4f} |")
    lines += ["", "Targets: wall ≤ 0.9× ffmpeg at SSIM within 0.002, peak memory no higher."]
    write_section("transcode-benchmark", lines)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
