#!/usr/bin/env python3
"""Soak test: geoavail under steady load while its catalog is rewritten every second.

    scripts/soak.py                  # 10 minutes
    DURATION=120 scripts/soak.py     # 2 minutes

Runs `geoavail serve` on a copy of the demo data (127.0.0.1 only), loads it with wrk, and every
second rewrites one catalog file: every fifth version is broken and must never be served.
Every ten seconds it sends SIGHUP and samples resident memory. It reports failed requests,
the catalog versions served (each must be one `geoavail check` accepted) and memory over time,
and exits non-zero when a request failed or a broken version was served. Needs wrk.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DURATION = int(os.environ.get("DURATION", "600"))
PORT = int(os.environ.get("PORT", "8092"))
BASE = f"http://127.0.0.1:{PORT}"
BINARY = os.path.join(ROOT, "target", "release", "geoavail")


def good_version(n):
    return f'[[titles]]\nid = "soak"\nname = "Soak {n}"\n[[titles.licenses]]\nterritories = ["US"]\n'


def broken_version(n):
    return f'[[titles]]\nid = "soak"\nname = "Broken {n}"\n[[titles.licenses]]\nterritories = ["XX"]\n'


def checked_version(catalogs):
    """The version `geoavail check` gives the folder, or None when it refuses it."""
    result = subprocess.run([BINARY, "check", catalogs], cwd=ROOT, capture_output=True, text=True)
    match = re.search(r"version ([0-9a-f]+);", result.stdout)
    return match.group(1) if result.returncode == 0 and match else None


def served_version():
    with urllib.request.urlopen(f"{BASE}/v1/locate?ip=192.0.2.1", timeout=5) as response:
        return response.headers["X-Catalog-Version"]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed (Debian package `wrk`)")
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "geoavail"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="geoavail-soak-")
    catalogs = os.path.join(work, "catalogs")
    shutil.copytree(os.path.join(ROOT, "catalogs"), catalogs)
    edited = os.path.join(catalogs, "soak.toml")
    with open(edited, "w") as f:
        f.write(good_version(0))
    good = {checked_version(catalogs)}
    env = dict(os.environ, GEOAVAIL_LISTEN=f"127.0.0.1:{PORT}", GEOAVAIL_CATALOGS=catalogs,
               GEOAVAIL_LOG_LEVEL="warn")
    server = subprocess.Popen([BINARY, "serve"], cwd=ROOT, env=env)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{BASE}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        load = subprocess.Popen(
            ["wrk", "-t2", "-c32", f"-d{DURATION}s", "--latency",
             f"{BASE}/v1/availability?ip=192.0.2.100&title=maple-and-main"],
            stdout=subprocess.PIPE, text=True)
        started = time.time()
        served, memory, broken_written, probe_failures, n = [], [], 0, 0, 0
        while time.time() - started < DURATION:
            n += 1
            with open(edited + ".tmp", "w") as f:
                f.write(broken_version(n) if n % 5 == 0 else good_version(n))
            os.replace(edited + ".tmp", edited)
            if n % 5 == 0:
                broken_written += 1
            else:
                good.add(checked_version(catalogs))
            if n % 10 == 0:
                server.send_signal(signal.SIGHUP)
                memory.append((round(time.time() - started), rss_kib(server.pid)))
            time.sleep(1)
            try:
                served.append(served_version())
            except OSError:
                probe_failures += 1
        report = load.communicate()[0]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)

    requests = int(re.search(r"(\d+) requests in", report).group(1))
    non_2xx = int((re.search(r"Non-2xx or 3xx responses: (\d+)", report) or [0, 0])[1])
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", report)
    socket_errors = sum(int(x) for x in socket.groups()) if socket else 0
    # The latency distribution's own line: "99%" also ends the thread statistics' columns.
    p99 = re.search(r"^\s*99%\s+(\S+)", report, re.MULTILINE).group(1)
    never_good = sorted(set(served) - good)
    summary = {
        "duration_s": DURATION,
        "requests": requests,
        "failed_requests": non_2xx + socket_errors + probe_failures,
        "p99": p99,
        "catalog_writes": n,
        "broken_writes": broken_written,
        "versions_served": len(set(served)),
        "served_versions_never_good": never_good,
        "rss_kib_over_time": [f"{t}s: {kib} KiB" for t, kib in memory],
    }
    print(json.dumps(summary, indent=2))
    if summary["failed_requests"] or never_good:
        sys.exit(1)


if __name__ == "__main__":
    main()
