#!/usr/bin/env python3
"""Registry throughput with wrk: farmers listed per second and signed heartbeats taken per second.

Starts `prism registry serve` (release build) on SQLite and, when PostgreSQL is available
(scripts/start-postgres.sh), on PostgreSQL; announces FARMERS live farmers with real signed heartbeats
(ed25519 keys made here with the `cryptography` package), then:
  - `wrk --latency` on GET /v1/farmers and GET / (32 connections, 2 threads);
  - `wrk` posting pre-signed heartbeats of those farmers (each envelope used once, fresh nonces), so every
    request is a real signature check, nonce claim and upsert.
Prints a markdown table (requests/s, mean and p99 latency, non-2xx answers).

Usage: benchmarks/registry/run.py [--farmers 2000] [--seconds 15] [--prism PATH] [--no-postgres]
Needs: wrk (apt-get install wrk), python3-cryptography or pip's cryptography.
"""
import argparse, json, os, re, shutil, signal, subprocess, sys, tempfile, time, urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
from wirelib import Identity, canonical

class Farmer(Identity):
    def __init__(self, index):
        super().__init__()
        self.url = f"http://10.0.{index // 250}.{index % 250 + 1}:8700"

    def heartbeat(self, path="/v1/heartbeats"):
        body = canonical({"farmer": self.id, "url": self.url, "capabilities": {"encoders": ["libx264"], "framesPerSecond": 30.0,
                          "sessions": 2, "price": 100000, "version": "bench"}})
        return self.envelope(body, "POST", path)

def start(prism, db):
    proc = subprocess.Popen([prism, "registry", "serve", "--listen", "127.0.0.1:0", "--db", db, "-q"], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    match = re.search(r"listening on (http://\S+)", line)
    if not match:
        proc.kill(); sys.exit(f"registry did not start: {line}")
    return proc, match.group(1)

def post(url, body):
    request = urllib.request.Request(url, data=body.encode(), method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as reply: return reply.status

def wrk(url, seconds, script=None, connections=32):
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"] + (["-s", script] if script else []) + [url]
    out = subprocess.run(args, capture_output=True, text=True).stdout
    def number(pattern, scale=1.0):
        m = re.search(pattern, out)
        if not m: return float("nan")
        value, unit = float(m.group(1)), m.group(2) if m.lastindex and m.lastindex >= 2 else ""
        return value * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}.get(unit, scale)
    rps = number(r"Requests/sec:\s+([\d.]+)")
    mean = number(r"Latency\s+([\d.]+)(us|ms|s|m)")
    p99 = number(r"\s99%\s+([\d.]+)(us|ms|s|m)")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, mean, p99, int(errors.group(1)) if errors else 0, out

LUA = """
local bodies = {}
local index = 0
function setup(thread) thread:set("offset", #threads_seen) table.insert(threads_seen, thread) end
threads_seen = {}
function init(args)
  for line in io.lines("%s") do bodies[#bodies + 1] = line end
  index = offset * math.floor(#bodies / 2)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end
function request()
  index = index + 1
  return wrk.format(nil, "/v1/heartbeats", nil, bodies[index])
end
"""

def run(prism, db, farmers, seconds, label):
    proc, url = start(prism, db)
    try:
        for farmer in farmers: post(url + "/v1/heartbeats", farmer.heartbeat())
        listed = json.load(urllib.request.urlopen(url + "/v1/farmers"))["farmers"]
        assert len(listed) == len(farmers), f"{len(listed)} of {len(farmers)} listed"
        rows = []
        for route in ["/v1/farmers", "/"]:
            rps, mean, p99, errors, _ = wrk(url + route, seconds)
            rows.append((label, f"GET {route}", rps, mean, p99, errors))
        # Enough pre-signed heartbeats for every request wrk can make in the run (each used once).
        count = int(4000 * seconds)
        work = tempfile.mkdtemp(prefix="prism-registry-bench-")
        bodies = os.path.join(work, "heartbeats.txt")
        with open(bodies, "w") as out:
            for i in range(count): out.write(farmers[i % len(farmers)].heartbeat() + "\n")
        script = os.path.join(work, "heartbeats.lua")
        with open(script, "w") as out: out.write(LUA % bodies)
        rps, mean, p99, errors, text = wrk(url, seconds, script)
        rows.append((label, "POST /v1/heartbeats (signed)", rps, mean, p99, errors))
        shutil.rmtree(work)
        return rows
    finally:
        proc.send_signal(signal.SIGTERM); proc.wait(timeout=30)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--farmers", type=int, default=2000)
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--prism", default=os.environ.get("PRISM_BINARY", f"{ROOT}/.build/release/prism"))
    ap.add_argument("--no-postgres", action="store_true")
    args = ap.parse_args()
    if not shutil.which("wrk"): sys.exit("wrk not found: apt-get install wrk")
    print(f"making {args.farmers} farmer keys", file=sys.stderr)
    farmers = [Farmer(i) for i in range(args.farmers)]
    rows = []
    work = tempfile.mkdtemp(prefix="prism-registry-db-")
    rows += run(args.prism, f"sqlite:{work}/registry.sqlite", farmers, args.seconds, "SQLite")
    if not args.no_postgres:
        pg = subprocess.run([f"{ROOT}/scripts/start-postgres.sh"], capture_output=True, text=True)
        if pg.returncode == 0:
            base = pg.stdout.strip()
            name = f"bench_{int(time.time())}"
            subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-h", "127.0.0.1", "-p", base.rsplit(":", 1)[1].split("/")[0],
                            "-c", f"CREATE DATABASE {name}"], capture_output=True)
            rows += run(args.prism, base.rsplit("/", 1)[0] + "/" + name, farmers, args.seconds, "PostgreSQL")
        else:
            print(f"PostgreSQL skipped: {pg.stderr.strip()}", file=sys.stderr)
    shutil.rmtree(work)
    print(f"\n{args.farmers} live farmers, wrk -t2 -c32 -d{args.seconds}s, {os.cpu_count()} cores\n")
    print("| database | route | requests/s | mean ms | p99 ms | non-2xx |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for label, route, rps, mean, p99, errors in rows:
        print(f"| {label} | {route} | {rps:.0f} | {mean:.1f} | {p99:.1f} | {errors} |")

if __name__ == "__main__":
    main()
