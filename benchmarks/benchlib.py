"""Shared helpers for Prism's benchmark scripts: timing a child process and rewriting RESULTS.md sections."""
import os, re, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "RESULTS.md")


def measure(cmd):
    """Runs cmd; returns wall seconds, CPU seconds (user+sys) and peak RSS in MiB of that child alone."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    err = proc.stderr.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{err}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def ffmpeg_version():
    return subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout.split()[2]


def write_section(name, lines):
    """Replaces (or appends) the section between <!-- NAME:start --> and <!-- NAME:end --> in RESULTS.md."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    section = "\n".join([start] + lines + [end]) + "\n"
    text = open(RESULTS).read() if os.path.exists(RESULTS) else "# Benchmark results\n\nEach section is rewritten by the script it names; numbers are from its last run.\n"
    if start in text:
        text = re.sub(re.escape(start) + ".*?" + re.escape(end) + "\n", lambda _: section, text, flags=re.S)
    else:
        text += "\n" + section
    open(RESULTS, "w").write(text)
    print(section)
