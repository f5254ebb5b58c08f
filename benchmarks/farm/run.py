#!/usr/bin/env python3
"""The farm's network path against local transcoding, and throughput with 1, 2 and 4 farmers, in one run.

Same source, ladder, preset and sandbox for all: `prism transcode --sandbox plain --workers 1` (segments
cut from the source's packets and run as sandboxed tasks, no network) against `prism submit` to 1, 2 and 4 farmers on
loopback (each `--sessions 1`, tasks in the plain sandbox). The submitter reports, per accepted segment, the
time between sending a task and holding its checked outputs minus the farmer's own time on it (transfer,
HTTP, signing, hashing) and the bytes moved; the loopback transfer time is estimated from a separate
timed copy of the same number of bytes through a local socket and subtracted.

Usage: benchmarks/farm/run.py [--prism PATH] [--seconds 10]
"""
import argparse, json, os, shutil, socket, subprocess, sys, tempfile, threading, time
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchlib import ROOT, measure, write_section


def loopback_seconds(nbytes):
    """Seconds to push nbytes through a TCP socket on 127.0.0.1 (the transfer itself)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    def sink():
        conn, _ = server.accept()
        while conn.recv(1 << 20):
            pass
        conn.close()
    t = threading.Thread(target=sink)
    t.start()
    client = socket.create_connection(("127.0.0.1", port))
    chunk = os.urandom(1 << 20)
    start = time.monotonic()
    sent = 0
    while sent < nbytes:
        client.sendall(chunk[: min(len(chunk), nbytes - sent)])
        sent += min(len(chunk), nbytes - sent)
    client.close()
    t.join()
    server.close()
    return time.monotonic() - start


def start_farmers(prism, work, count):
    farmers = []
    for i in range(count):
        key = os.path.join(work, f"f{i}.key")
        if not os.path.exists(key):
            subprocess.run([prism, "keys", "generate", "--out", key], check=True, capture_output=True)
        proc = subprocess.Popen([prism, "farmer", "serve", "--listen", "127.0.0.1:0", "--key", key, "--data", os.path.join(work, f"data{i}-{count}"),
                                 "--sessions", "1"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = proc.stdout.readline()
        farmers.append((proc, line.split()[2]))
    return farmers


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prism", default=os.path.join(ROOT, ".build/release/prism"))
    ap.add_argument("--seconds", type=int, default=10)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="prism-farm-bench-")
    source = os.path.join(work, "source.mp4")
    subprocess.run([os.path.join(ROOT, "benchmarks/make-source.sh"), source, "1280", "720", str(args.seconds), "30"], check=True)
    common = ["--ladder", "480p,360p,240p", "--preset", "veryfast", "-q"]
    audit = ["--audit", "all"]
    out = os.path.join(work, "out")
    local = measure([args.prism, "transcode", source, "-o", out, "--sandbox", "plain", "--workers", "1", "--encoder", "software"] + common)
    shutil.rmtree(out, ignore_errors=True)
    rows = []
    for count in (1, 2, 4):
        farmers = start_farmers(args.prism, work, count)
        try:
            start = time.monotonic()
            result = subprocess.run([args.prism, "submit", source, "-o", out, "--farmers", ",".join(u for _, u in farmers), "--json"] + common + audit,
                                    capture_output=True, text=True)
            wall = time.monotonic() - start
            if result.returncode != 0:
                sys.exit(result.stderr)
            summary = json.loads(result.stdout)
            rows.append((count, wall, summary))
        finally:
            for proc, _ in farmers:
                proc.terminate()
                proc.wait()
            shutil.rmtree(out, ignore_errors=True)
    segments = rows[0][2]["segments"]
    one = rows[0][2]
    moved = one["bytesUp"] + one["bytesDown"]
    transfer = loopback_seconds(moved)
    per_segment_ms = (one["networkSeconds"] - transfer) / segments * 1000
    lines = [
        "## Farm: network path and throughput",
        "",
        f"Reproduce: `swift build -c release && benchmarks/farm/run.py --seconds {args.seconds}` (last run {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, everything on this one machine).",
        f"Source: 1280x720 30 fps, {args.seconds} s ({segments} segments of 2 s); ladder 480p,360p,240p, x264 veryfast; every task in the plain sandbox.",
        "",
        "| run | wall (s) | segments/s | notes |",
        "| --- | ---: | ---: | --- |",
        f"| local `prism transcode --sandbox plain --workers 1` | {local[0]:.2f} | {segments / local[0]:.2f} | same tasks, no network, no verification |",
    ]
    for count, wall, summary in rows:
        lines.append(f"| `prism submit`, {count} farmer(s) × 1 session | {wall:.2f} | {segments / wall:.2f} | verification {summary['verifySeconds']:.1f} s, retried {summary['retried']} |")
    lines += [
        "",
        f"Network path with 1 farmer: {one['networkSeconds'] / segments * 1000:.0f} ms per segment between sending a task and holding its "
        f"checked outputs (every rendition's pixels audited), beyond the farmer's own time; {moved / segments / 1e6:.1f} MB moved per segment (the source's own packets up, renditions down), "
        f"whose transfer alone through a loopback socket takes {transfer / segments * 1000:.0f} ms. What remains — HTTP, signing, hashing, "
        f"receipt checks — is **{per_segment_ms:.0f} ms per segment** (target ≤ 10 ms).",
        "",
        "On 2 cores, more farmers on the same machine share the same cores, so throughput cannot scale here; the "
        "rows show that dispatch keeps every farmer's session busy without losing segments.",
    ]
    write_section("farm-benchmark", lines)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
