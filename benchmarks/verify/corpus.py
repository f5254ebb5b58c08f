#!/usr/bin/env python3
"""Detection benchmark for `prism verify`: builds a corpus of honest and tampered renditions with the ffmpeg CLI
from natural-looking clips (the 720p fixture and clips made like fixtures/make-fixtures.sh from other packaged
photographs), runs `prism verify` on each, and prints per-kind detection and false-rejection tables (markdown).

Usage: benchmarks/verify/corpus.py [--work DIR] [--prism PATH] [--jobs N] [--quick]
The corpus goes to DIR (default /tmp/prism-verify-corpus), never into the repository.
"""
import argparse, concurrent.futures as cf, json, os, subprocess, sys, time, collections

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PHOTOS = "/usr/share/backgrounds"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
SECONDS, FPS, W, H = 2, 30, 1280, 720
RUNGS = {"720p": (1280, 720, 3000), "480p": (854, 480, 1600), "360p": (640, 360, 800), "240p": (426, 240, 250)}

def ff(*args):
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)

def make_source(work, name, photo):
    """A 2 s 720p30 segment: a slow zoom and pan over a photograph with hand-held wobble and sensor noise
    (the virtual camera of fixtures/make-fixtures.sh), one keyframe, near-lossless."""
    out = f"{work}/src-{name}.mp4"
    if os.path.exists(out): return out
    frames = SECONDS * FPS
    if photo is None:
        ff("-i", f"{ROOT}/fixtures/pan-720p.mp4", "-an", "-t", str(SECONDS), "-c:v", "libx264", "-preset", "fast", "-crf", "16", "-g", "300", out)
        return out
    graph = (f"[0:v]scale=-2:{H * 2},scale=w='trunc(iw*(1+0.25*n/{frames})/2)*2':h='trunc(ih*(1+0.25*n/{frames})/2)*2':eval=frame,"
             f"crop=w={W}:h={H}:x='(iw-{W})*(0.15+0.6*n/{frames})+6*sin(n/3.1)':y='(ih-{H})*0.45+5*sin(n/4.7+1)',"
             f"noise=alls=3:allf=t,setsar=1,format=yuv420p[v]")
    ff("-loop", "1", "-framerate", str(FPS), "-i", f"{PHOTOS}/{photo}", "-t", str(SECONDS), "-filter_complex", graph, "-map", "[v]",
       "-r", str(FPS), "-c:v", "libx264", "-preset", "fast", "-crf", "16", "-g", "300", out)
    return out

ENCODERS = {
    "x264": lambda preset, kbps: ["-c:v", "libx264", "-preset", preset, "-b:v", f"{kbps}k", "-maxrate", f"{kbps * 3 // 2}k", "-bufsize", f"{kbps * 2}k"],
    "x265": lambda preset, kbps: ["-c:v", "libx265", "-preset", preset, "-b:v", f"{kbps}k", "-tag:v", "hvc1", "-x265-params", "log-level=error"],
    "av1": lambda preset, kbps: ["-c:v", "libsvtav1", "-preset", preset, "-b:v", f"{kbps}k"],
    "vp9": lambda preset, kbps: ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", preset, "-row-mt", "1", "-b:v", f"{kbps}k"],
}
# Two passes (the second reads the first's statistics and macroblock tree), as `prism transcode` encodes: x264's
# macroblock tree spends on one large keyframe and starves the predicted frames far from it.
ENCODERS["x264-2pass"] = ENCODERS["x264"]
CODEC = {"x264": "h264", "x264-2pass": "h264", "x265": "hevc", "av1": "av1", "vp9": "vp9"}

def jobs(sources, quick):
    """(name, source, rung, kind, honest, filter, extra input, encoder, preset, bitrate factor)."""
    out = []
    presets = {"x264": ["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow"], "x264-2pass": ["fast", "medium"],
               "x265": ["fast"], "av1": ["10"], "vp9": ["6"]}
    for sname, src in sources.items():
        for encoder, plist in presets.items():
            for preset in plist:
                for rung in RUNGS:
                    if quick and rung in ("480p",): continue
                    out.append(dict(name=f"{sname}-honest-{encoder}-{preset}-{rung}", src=src, rung=rung, kind=f"honest {encoder}",
                                    honest=True, vf="", encoder=encoder, preset=preset))
    others = list(sources.values())
    for si, (sname, src) in enumerate(sources.items()):
        other = others[(si + 1) % len(others)]
        for rung in (["720p", "360p"] if not quick else ["720p"]):
            w, h, kbps = RUNGS[rung]
            add = lambda kind, vf, **kw: out.append(dict(name=f"{sname}-{kind}-{rung}-{len(out)}", src=src, rung=rung, kind=kind, honest=False,
                                                         vf=vf, encoder=kw.get("encoder", "x264"), preset=kw.get("preset", "veryfast"),
                                                         factor=kw.get("factor", 1.0), other=kw.get("other")))
            corner = [(0.04, 0.06), (0.70, 0.08), (0.06, 0.78), (0.42, 0.45)][si % 4]
            for area in (0.005, 0.02, 0.10):
                for alpha in (0.25, 0.6, 1.0):
                    fs = max(8, int(((area * w * h) / 7.2) ** 0.5))
                    x, y = int(corner[0] * w), int(corner[1] * h)
                    add(f"watermark-text {area*100:g}%", f"drawtext=fontfile={FONT}:text='PRISM FARM':fontsize={fs}:fontcolor=white@{alpha}:x={x}:y={y}")
                    side = max(8, int((area * w * h) ** 0.5))
                    add(f"watermark-logo {area*100:g}%", f"[LOGO]{side}:{side}:{alpha}:{x}:{y}")
            add("bitrate-quarter", "", factor=0.25, preset="medium")
            add("bitrate-sixth", "", factor=1 / 6, preset="medium")
            add("upscale-2x", f"scale={w // 2}:{h // 2},scale={w}:{h}:flags=bicubic", preset="medium")
            add("upscale-2x", f"scale={w // 2}:{h // 2},scale={w}:{h}:flags=bicubic", preset="medium", encoder="x264-2pass")
            add("black-frames", "drawbox=c=black:t=fill:enable='between(n,40,44)'")
            add("black-frames", "drawbox=c=black:t=fill:enable='between(n,20,39)'")
            add("frozen-frames", "[FREEZE]30:39")
            add("frozen-frames", "[FREEZE]40:57")
            add("dropped-frames", "select='not(between(n,50,52))',setpts=N/FRAME_RATE/TB")
            add("dropped-frames", "select='not(between(n,30,39))',setpts=N/FRAME_RATE/TB")
            add("flip", "hflip")
            add("flip", "vflip")
            add("chroma-shift", "hue=h=12")
            add("chroma-shift", "hue=h=35")
            add("chroma-shift", "hue=s=1.6")
            add("chroma-shift", "colorbalance=rm=0.15:bm=-0.15")
            # Noise is added to the output, at the rung's size (as a farmer would add it); added to the 720p source
            # before downscaling, strength 8 cost a 360p rendition only 0.15-0.5 dB, less than any encoder choice.
            add("noise", "[NOISE]8")
            add("noise", "[NOISE]20")
            add("blur-region", f"[BLUR]0.02")
            add("blur-region", f"[BLUR]0.10")
            add("time-shift", "select='gte(n,2)',setpts=N/FRAME_RATE/TB,tpad=stop_mode=clone:stop=2")
            add("time-shift", "select='gte(n,4)',setpts=N/FRAME_RATE/TB,tpad=stop_mode=clone:stop=4")
            add("substitution", "[SUBST]all", other=other)
            add("substitution", "[SUBST]half", other=other)
    return out

def graph_for(job, w, h):
    """ffmpeg inputs and filter graph for a job: the tamper first, then the rung's scale — except overlays (text,
    logo) and noise, which are drawn on the rung-sized picture so that their stated share of the frame and strength
    are those of the output (drawn on the 720p source, a "0.5 %" logo covered 0.125 % of a 360p frame)."""
    vf = job["vf"]
    inputs = ["-i", job["src"]]
    scale = f"scale={w}:{h}:flags=bicubic"
    if vf.startswith("[LOGO]"):
        side, _, alpha, x, y = vf[6:].split(":")
        inputs += ["-loop", "1", "-i", f"{PHOTOS}/Painting-Colors_by__herobrine7gamer.jpg"]
        g = (f"[1:v]scale={side}:{side},format=rgba,colorchannelmixer=aa={alpha}[logo];"
             f"[0:v]{scale}[base];[base][logo]overlay={x}:{y}:shortest=1[v]")
        return inputs, g
    if vf.startswith("[FREEZE]"):
        first, last = vf[8:].split(":")
        return inputs, f"[0:v]split[a][b];[a][b]freezeframes=first={first}:last={last}:replace={int(first) - 1},{scale}[v]"
    if vf.startswith("[BLUR]"):
        area = float(vf[6:])
        bw, bh = int((area * W * H * 1.5) ** 0.5) // 2 * 2, int((area * W * H / 1.5) ** 0.5) // 2 * 2
        return inputs, f"[0:v]split[a][b];[b]crop={bw}:{bh}:{W // 2}:{H // 3},boxblur=10:2[c];[a][c]overlay={W // 2}:{H // 3},{scale}[v]"
    if vf.startswith("[NOISE]"):
        return inputs, f"[0:v]{scale},noise=alls={vf[7:]}:allf=t[v]"
    if vf.startswith("[SUBST]"):
        inputs += ["-i", job["other"]]
        if vf.endswith("all"):
            return inputs, f"[1:v]{scale}[v]"
        return inputs, f"[0:v]setsar=1,trim=end_frame=30,setpts=PTS-STARTPTS[a];[1:v]setsar=1,trim=start_frame=30,setpts=PTS-STARTPTS[b];[a][b]concat=n=2:v=1,{scale}[v]"
    if vf.startswith("drawtext"):
        return inputs, f"[0:v]{scale},{vf}[v]"
    return inputs, f"[0:v]{vf + ',' if vf else ''}{scale}[v]"

def encode(job, work):
    w, h, kbps = RUNGS[job["rung"]]
    ext = "webm" if job["encoder"] == "vp9" else "mp4"
    out = f"{work}/r/{job['name']}.{ext}"
    if os.path.exists(out): return out
    inputs, g = graph_for(job, w, h)
    rate = int(kbps * job.get("factor", 1.0))
    common = [*inputs, "-filter_complex", g, "-map", "[v]", "-an", "-r", str(FPS), *ENCODERS[job["encoder"]](job["preset"], rate)]
    if job["encoder"] == "x264-2pass":
        log = f"{work}/r/{job['name']}.passlog"
        ff(*common, "-pass", "1", "-passlogfile", log, "-f", "null", "-")
        ff(*common, "-pass", "2", "-passlogfile", log, out + ".part." + ext)
    else:
        ff(*common, out + ".part." + ext)
    os.rename(out + ".part." + ext, out)
    return out

def verify(prism, job, rendition, seed=None):
    w, h, kbps = RUNGS[job["rung"]]
    started = time.time()
    p = subprocess.run([prism, "verify", "--source", job["src"], "--rendition", rendition, "--width", str(w), "--height", str(h),
                        "--bitrate", f"{kbps}k", "--codec", CODEC[job["encoder"]], "--json", *(["--seed", str(seed)] if seed is not None else [])],
                       capture_output=True, text=True)
    result = json.loads(p.stdout) if p.stdout.strip().startswith("{") else {"verdict": f"exit {p.returncode}", "reasons": [{"code": p.stderr.strip()}]}
    return dict(job, status=p.returncode, verdict=result["verdict"], codes=[r["code"] for r in result.get("reasons", [])], regions=result.get("regions", []), seconds=time.time() - started)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="/tmp/prism-verify-corpus")
    ap.add_argument("--prism", default=os.environ.get("PRISM_BINARY", f"{ROOT}/.build/release/prism"))
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--quick", action="store_true", help="fewer rungs and tampers (a smoke run)")
    ap.add_argument("--honest-seeds", default="", help="comma-separated seeds: verify every honest rendition again with each (false-rejection check)")
    args = ap.parse_args()
    os.makedirs(f"{args.work}/r", exist_ok=True)
    t0 = time.time()
    photos = {"pan": None, "dragonfly": "Dragonfly_by_Bolly.jpg", "picos": "picosdeeuropa_by_Aitzol_Berasategi.jpg",
              "seeding": "seeding_by_Clements_Engelhardt.jpg"}
    if args.quick: photos = {k: photos[k] for k in ("pan", "dragonfly")}
    with cf.ThreadPoolExecutor(args.jobs) as pool:
        sources = dict(zip(photos, pool.map(lambda kv: make_source(args.work, *kv), photos.items())))
    all_jobs = jobs(sources, args.quick)
    # Honest renditions made by Prism's own farmer code path too: `prism transcode` HLS playlists.
    transcoded = f"{args.work}/transcode-pan"
    if not os.path.exists(transcoded):
        subprocess.run([args.prism, "transcode", sources["pan"], "-o", transcoded, "--ladder", "720p@3000k,480p@1600k,360p@800k,240p@250k", "-q"], check=True)
    with cf.ThreadPoolExecutor(args.jobs) as pool:
        renditions = list(pool.map(lambda j: encode(j, args.work), all_jobs))
    t1 = time.time()
    for rung in RUNGS:
        all_jobs.append(dict(name=f"pan-honest-prism-transcode-{rung}", src=sources["pan"], rung=rung, kind="honest prism transcode (HLS)",
                             honest=True, encoder="x264", preset="prism"))
        renditions.append(f"{transcoded}/{rung}/index.m3u8")
    with cf.ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda jr: verify(args.prism, *jr), zip(all_jobs, renditions)))
    t2 = time.time()
    json.dump(results, open(f"{args.work}/results.json", "w"), indent=1)

    by_kind = collections.OrderedDict()
    for r in results: by_kind.setdefault((r["honest"], r["kind"]), []).append(r)
    print(f"corpus: {len(sources)} source clips ({', '.join(sources)}), {len(results)} renditions; encode {t1 - t0:.0f} s, verify {t2 - t1:.0f} s "
          f"(mean {sum(r['seconds'] for r in results) / len(results):.2f} s per verify, {args.jobs} at a time)\n")
    print("| honest renditions | count | rejected (false) | reasons |\n|---|---|---|---|")
    for (honest, kind), rs in by_kind.items():
        if not honest: continue
        bad = [r for r in rs if r["verdict"] != "accept"]
        print(f"| {kind} | {len(rs)} | {len(bad)} | {', '.join(sorted(set(c for r in bad for c in r['codes'])))} |")
    print("\n| tampered kind | count | rejected | detection | reason codes given |\n|---|---|---|---|---|")
    total = caught = 0
    for (honest, kind), rs in by_kind.items():
        if honest: continue
        ok = [r for r in rs if r["verdict"] == "reject" and r["status"] == 1]
        total += len(rs); caught += len(ok)
        codes = collections.Counter(c for r in ok for c in r["codes"])
        print(f"| {kind} | {len(rs)} | {len(ok)} | {100 * len(ok) / len(rs):.0f}% | {', '.join(f'{c} ({n})' for c, n in codes.most_common(4))} |")
    honest_all = [r for r in results if r["honest"]]
    false = [r for r in honest_all if r["verdict"] != "accept"]
    print(f"\n**honest rejected: {len(false)} of {len(honest_all)}; tampered rejected: {caught} of {total} ({100 * caught / max(1, total):.1f}%)**")
    seeds = [int(x) for x in args.honest_seeds.split(",") if x]
    if seeds:
        again = [(j, r, seed) for j, r in zip(all_jobs, renditions) if j["honest"] for seed in seeds]
        with cf.ThreadPoolExecutor(args.jobs) as pool:
            rerun = list(pool.map(lambda a: verify(args.prism, *a), again))
        bad = [r for r in rerun if r["verdict"] != "accept"]
        print(f"\n**honest renditions verified again with seeds {', '.join(map(str, seeds))}: {len(bad)} of {len(rerun)} rejected**")
        for r in bad: print(f"- {r['name']}: {r['verdict']} {' '.join(r['codes'])}")
    misses = [r for r in results if (r["honest"] and r["verdict"] != "accept") or (not r["honest"] and r["verdict"] != "reject")]
    if misses:
        print("\nMisjudged:\n")
        for r in misses: print(f"- {r['name']}: {r['verdict']} {' '.join(r['codes'])}")

if __name__ == "__main__":
    main()
