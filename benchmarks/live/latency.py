#!/usr/bin/env python3
"""Live latency and real-time keeping: `prism live` against the ffmpeg CLI's own live HLS output of the same push.

A 720p30 broadcast (x264 veryfast 3 Mbit/s, a keyframe every 2 s, AAC, as OBS sends) is pushed in real time with
`ffmpeg -re -c copy -f flv` to a listening RTMP server; the server makes a 2 s segment HLS ladder of 480p and 360p
with x264 veryfast. Every 20 ms the rung playlists are read; a segment's glass-to-playlist latency is when it first
appears minus when its last frame was pushed (the push's start plus the segment's end on the media timeline, one
frame earlier). Runs: prism encoding here, prism with one loopback farmer (every segment verified), and the ffmpeg
CLI (`-listen 1 … -f hls`). Real time: every segment published, no gap, and the last segments no later than the
first (a server that falls behind shows latency growing along the stream).

Usage: benchmarks/live/latency.py --prism .build/release/prism [--seconds 60]
Writes the live-latency section of benchmarks/RESULTS.md.
"""
import argparse, json, os, random, re, shutil, signal, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import benchlib  # noqa: E402


def make_broadcast(work, seconds):
    raw = os.path.join(work, "raw.mp4")
    subprocess.run([os.path.join(benchlib.ROOT, "benchmarks/make-source.sh"), raw, "1280", "720", str(seconds), "30"], check=True)
    out = os.path.join(work, "broadcast.mp4")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", raw, "-f", "lavfi", "-t", str(seconds), "-i", "sine=frequency=440:sample_rate=48000",
                    "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "veryfast", "-b:v", "3M", "-maxrate", "3M", "-bufsize", "6M",
                    "-g", "60", "-keyint_min", "60", "-sc_threshold", "0", "-c:a", "aac", "-b:a", "128k", out], check=True)
    return out


def extinf(text):
    """[(file, duration)] of a media playlist."""
    entries, duration = [], None
    for line in text.splitlines():
        if line.startswith("#EXTINF:"):
            duration = float(line[8:].split(",")[0])
        elif line and not line.startswith("#") and duration is not None:
            entries.append((line, duration))
            duration = None
    return entries


def watch(playlists, push_cmd, server, stop_when_done, settle=30):
    """Pushes, polls the playlists; returns {playlist: [(appeared_monotonic, file, duration)]} and the push start."""
    busy_at_start = machine_cpu()
    seen = {p: {} for p in playlists}
    order = {p: [] for p in playlists}
    time.sleep(1.0)
    start = None
    for _ in range(80):
        start = time.monotonic()
        push = subprocess.Popen(push_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.3)
        if push.poll() is None or push.returncode == 0:
            break
        time.sleep(0.2)
    deadline = None
    while True:
        now = time.monotonic()
        for playlist in playlists:
            try:
                text = open(playlist).read()
            except OSError:
                continue
            for file, duration in extinf(text):
                if file not in seen[playlist]:
                    seen[playlist][file] = now
                    order[playlist].append((now, file, duration))
        if push.poll() is not None and deadline is None:
            deadline = now + settle
            stop_when_done()
        if deadline is not None and (server.poll() is not None or now > deadline):
            break
        time.sleep(0.02)
    watch.machine = machine_cpu() - busy_at_start
    return order, start


def latencies(order, start, frame):
    """Per segment: appearance minus when its last frame was pushed (its end on the media timeline less a frame)."""
    out = []
    for playlist, entries in order.items():
        media_end = 0.0
        for appeared, _, duration in entries:
            media_end += duration
            out.append(appeared - (start + media_end - frame))
    return out


def summarize(name, values, segments_expected, wall_cpu):
    values = sorted(values)
    quarter = max(1, len(values) // 4)
    first, last = statistics.median(values[:quarter]), statistics.median(values[-quarter:])
    return {"name": name, "segments": len(values), "expected": segments_expected, "median": statistics.median(values),
            "p90": values[min(len(values) - 1, int(len(values) * 0.9))], "max": values[-1], "cpu": wall_cpu}


def machine_cpu():
    """CPU seconds all processes on this host have used (busy time from /proc/stat): a sandboxed farmer's tasks included."""
    fields = [int(x) for x in open("/proc/stat").readline().split()[1:8]]
    busy = fields[0] + fields[1] + fields[2] + fields[5] + fields[6]
    return busy / os.sysconf("SC_CLK_TCK")


def cpu_of(proc_pid):
    try:
        fields = open(f"/proc/{proc_pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return None


def run_prism(prism, clip, work, tag, farmers=None):
    out = os.path.join(work, f"prism-{tag}")
    port = random.randint(20000, 45000)
    url = f"rtmp://127.0.0.1:{port}/live/key"
    cmd = [prism, "live", "--input", url, "-o", out, "--ladder", "480p,360p", "--preset", "veryfast", "--window", "0",
           "--reconnect-wait", "1", "--connect-timeout", "60", "--json", "-q"]
    if farmers:
        cmd += ["--farmers", farmers]
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    order, start = watch([f"{out}/480p/index.m3u8", f"{out}/360p/index.m3u8"],
                         ["ffmpeg", "-v", "error", "-re", "-i", clip, "-c", "copy", "-f", "flv", url], server, lambda: None)
    stdout, stderr = server.communicate(timeout=120)
    parsed = [json.loads(l) for l in stdout.decode().splitlines() if l.startswith("{")]
    end = parsed[-1]
    end["records"] = [p for p in parsed if p.get("event") == "segment"]
    if server.returncode != 0:
        sys.exit(f"prism live failed: {stderr.decode()[-2000:]}")
    return order, start, end


def run_ffmpeg(clip, work):
    out = os.path.join(work, "ffmpeg")
    os.makedirs(out)
    port = random.randint(20000, 45000)
    url = f"rtmp://127.0.0.1:{port}/live/key"
    cmd = ["ffmpeg", "-v", "error", "-listen", "1", "-i", url,
           "-filter_complex", "[0:v]split=2[a][b];[a]scale=-2:480[v480];[b]scale=-2:360[v360]",
           "-map", "[v480]", "-map", "0:a", "-map", "[v360]", "-map", "0:a",
           "-c:v", "libx264", "-preset", "veryfast", "-b:v:0", "1600k", "-b:v:1", "800k", "-g", "60", "-keyint_min", "60", "-sc_threshold", "0",
           "-c:a", "aac", "-b:a", "128k", "-f", "hls", "-hls_time", "2", "-hls_list_size", "0", "-hls_playlist_type", "event",
           "-var_stream_map", "v:0,a:0 v:1,a:1", "-master_pl_name", "master.m3u8", f"{out}/%v/index.m3u8"]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.5)
    cpu = {}

    def sample():
        cpu["value"] = cpu_of(server.pid)
    order, start = watch([f"{out}/0/index.m3u8", f"{out}/1/index.m3u8"],
                         ["ffmpeg", "-v", "error", "-re", "-i", clip, "-c", "copy", "-f", "flv", url], server, sample)
    server.wait(timeout=120)
    return order, start, cpu.get("value")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--prism", required=True)
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()
    prism = os.path.abspath(args.prism)
    work = tempfile.mkdtemp(prefix="prism-live-bench-")
    try:
        clip = make_broadcast(work, args.seconds)
        expected = args.seconds // 2 * 2
        rows = []
        order, start, end = run_prism(prism, clip, work, "local")
        rows.append(summarize("prism live, encoding here", latencies(order, start, 1 / 30), expected, end["cpuSeconds"])
                    | {"gaps": end["gaps"], "frames": end["frames"], "machine": watch.machine})

        key = os.path.join(work, "farmer.key")
        subprocess.run([prism, "keys", "generate", "--out", key], check=True, stdout=subprocess.DEVNULL)
        sandbox = [] if shutil.which("bwrap") else ["--sandbox", "none"]
        farmer = subprocess.Popen([prism, "farmer", "serve", "--listen", "127.0.0.1:0", "--key", key, "--data", os.path.join(work, "farm"),
                                   "--sessions", "2"] + sandbox, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        line = farmer.stdout.readline().decode()
        farmer_url = re.search(r"listening on (\S+)", line).group(1)
        try:
            order, start, end = run_prism(prism, clip, work, "farm", farmers=farmer_url)
        finally:
            farmer.send_signal(signal.SIGTERM)
            farmer.wait(timeout=30)
        rows.append(summarize("prism live, one loopback farmer (all verified)", latencies(order, start, 1 / 30), expected, end["cpuSeconds"])
                    | {"gaps": end["gaps"], "frames": end["frames"], "machine": watch.machine,
                       "farmed": sum(1 for r in end.get("records", []) if r.get("encodedBy") == "farm")})

        order, start, cpu = run_ffmpeg(clip, work)
        rows.append(summarize("ffmpeg CLI -f hls (same ladder, same push)", latencies(order, start, 1 / 30), expected, cpu)
                    | {"gaps": 0, "machine": watch.machine})
    finally:
        shutil.rmtree(work, ignore_errors=True)

    ffmpeg = rows[-1]
    lines = [f"`benchmarks/live/latency.py --seconds {args.seconds}` ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, FFmpeg {benchlib.ffmpeg_version()}):",
             f"a {args.seconds} s 720p30 broadcast (x264 veryfast 3 Mbit/s, keyframe every 2 s, AAC) pushed with `ffmpeg -re -c copy -f flv`",
             "to a listening server making 480p@1600k + 360p@800k, x264 veryfast, 2 s segments. Latency: a segment's first",
             "appearance in its rung playlist (polled every 20 ms) minus when its last frame was pushed; both rungs counted.",
             "",
             "| server | segments listed (of each rung) | gaps | latency median | p90 | max | server CPU s | whole host CPU s | vs ffmpeg (median latency) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        cpu = f"{row['cpu']:.1f}" if row.get("cpu") is not None else "n/a"
        listed = f"{row['segments'] // 2} of {row['expected'] // 2}" + (f" ({row['farmed']} from the farmer)" if "farmed" in row else "")
        lines.append(f"| {row['name']} | {listed} | {row.get('gaps', 0)} | {row['median']:.2f} s | {row['p90']:.2f} s | "
                     f"{row['max']:.2f} s | {cpu} | {row['machine']:.1f} | {row['median'] / ffmpeg['median']:.2f}x |")
    lines += ["", "Real time: a server that cannot keep up lists later segments later and later; the max above stays within",
              "a segment of the median when it keeps up. Whole host CPU is every process's busy time during the run (the pushing",
              "ffmpeg, and the farmer with its sandboxed tasks, included); the farmer runs on the same 2 cores as the submitter here."]
    benchlib.write_section("live-latency", lines)


if __name__ == "__main__":
    main()
