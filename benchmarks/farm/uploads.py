#!/usr/bin/env python3
"""A farmer's memory while submitters upload big sources at once: four concurrent 200 MB uploads (signed tasks,
curl streaming the body) to one farmer with 4 sessions; prints its resident memory before and its peak (VmHWM)
after, and the same with 1 session (the other three refused with 503 before their bodies are read).

Usage: benchmarks/farm/uploads.py [--prism PATH] [--megabytes 200] [--uploads 4]
The sources are random bytes that hash right, so each task is refused as unreadable video once it is stored:
what is measured is the upload path, and that nothing of a refused task stays on disk.
"""
import argparse, concurrent.futures as cf, hashlib, os, re, shutil, subprocess, sys, tempfile, time
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
from wirelib import Identity, canonical

def rss(pid, field):
    text = open(f"/proc/{pid}/status").read()
    return int(re.search(rf"{field}:\s+(\d+) kB", text).group(1)) / 1024

def run(prism, sessions, megabytes, uploads, work):
    key = os.path.join(work, "farmer.key")
    if not os.path.exists(key): subprocess.run([prism, "keys", "generate", "--out", key], check=True, capture_output=True)
    data = os.path.join(work, f"data-{sessions}")
    farmer = subprocess.Popen([prism, "farmer", "serve", "--listen", "127.0.0.1:0", "--key", key, "--data", data, "--sessions", str(sessions),
                               "--sandbox", "none", "--claim-fps", "10", "--max-upload-bytes", str((megabytes + 10) << 20)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    url = re.search(r"listening on (http://\S+)", farmer.stdout.readline()).group(1)
    time.sleep(0.5)
    before = rss(farmer.pid, "VmRSS")
    submitter = Identity()
    files = []
    for index in range(uploads):
        path = os.path.join(work, f"source-{index}.bin")
        if not os.path.exists(path):
            with open(path, "wb") as out:
                for _ in range(megabytes): out.write(os.urandom(1 << 20))
        digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
        task = canonical({"source": f"sha256:{digest}", "ladder": [{"height": 240, "bitrate": 250000}], "codec": "h264", "options": {}})
        files.append((path, submitter.header(task, "POST", "/v1/tasks")))
    def upload(item):
        path, header = item
        started = time.monotonic()
        out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-H", f"X-Prism-Envelope: {header}",
                              "-H", "Content-Type: application/octet-stream", "-H", "Expect:", "--data-binary", f"@{path}", url + "/v1/tasks"],
                             capture_output=True, text=True)
        return out.stdout, time.monotonic() - started
    with cf.ThreadPoolExecutor(uploads) as pool:
        results = list(pool.map(upload, files))
    peak = rss(farmer.pid, "VmHWM")
    left = sum(len(files) for _, _, files in os.walk(os.path.join(data, "tasks")))
    farmer.terminate(); farmer.wait()
    return before, peak, [code for code, _ in results], max(seconds for _, seconds in results), left

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prism", default=os.environ.get("PRISM_BINARY", f"{ROOT}/.build/release/prism"))
    ap.add_argument("--megabytes", type=int, default=200)
    ap.add_argument("--uploads", type=int, default=4)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="prism-uploads-")
    try:
        print(f"{args.uploads} concurrent uploads of {args.megabytes} MB to one farmer\n")
        print("| sessions | RSS before, MiB | peak RSS, MiB | answers | slowest upload, s | files left |")
        print("| ---: | ---: | ---: | --- | ---: | ---: |")
        for sessions in (args.uploads, 1):
            before, peak, codes, slowest, left = run(args.prism, sessions, args.megabytes, args.uploads, work)
            print(f"| {sessions} | {before:.0f} | {peak:.0f} | {', '.join(sorted(codes))} | {slowest:.1f} | {left} |")
    finally:
        shutil.rmtree(work)

if __name__ == "__main__":
    main()
