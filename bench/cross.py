#!/usr/bin/env python3
"""Section 8 of `make bench`: the linux/arm64 binary under qemu-user (informational).

Prints the aarch64 static binary's size next to the x86_64 one's, and the warm `get` (a cache hit:
one cold `get` from tests/fake_aws.py fills the cache first) of each: the aarch64 one run by
qemu-aarch64-static, the x86_64 one natively. Emulated times are not a speed claim for arm64
hardware: they show that the binary works and what emulation costs, nothing more.

    python3 bench/cross.py --arm64 BIN --native BIN [--rounds N]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HOST = "123456789012.dkr.ecr.us-west-2.amazonaws.com"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arm64", required=True)
    ap.add_argument("--native", required=True)
    ap.add_argument("--rounds", type=int, default=50)
    args = ap.parse_args()
    qemu = shutil.which("qemu-aarch64-static")
    if not qemu:
        print("8. arm64 under qemu: skipped (no qemu-aarch64-static; make cross-setup)")
        return 0
    work = tempfile.mkdtemp(prefix="ecr-bench-cross.")
    port_file = os.path.join(work, "port")
    fake = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "tests", "fake_aws.py"), "--port", "0",
         "--port-file", port_file, "--log", os.path.join(work, "fake.log"),
         "--password", "bench-password"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if os.path.exists(port_file) and os.path.getsize(port_file) > 0:
                break
            time.sleep(0.1)
        port = open(port_file).read().strip()
        rows = []
        for label, cmd in (("arm64 (qemu-aarch64-static)", [qemu, args.arm64]),
                           ("x86_64 (native)", [args.native])):
            home = tempfile.mkdtemp(dir=work)
            env = {"PATH": "/usr/bin:/bin", "HOME": home,
                   "AWS_ECR_CACHE_DIR": os.path.join(home, ".ecr"),
                   "AWS_ACCESS_KEY_ID": "AKIDBENCHCROSS", "AWS_SECRET_ACCESS_KEY": "bench-secret",
                   "AWS_EC2_METADATA_DISABLED": "true",
                   "AWS_ENDPOINT_URL_ECR": "http://127.0.0.1:" + port}

            def get():
                t = time.perf_counter()
                out = subprocess.run(cmd + ["get"], input=HOST.encode(), env=env,
                                     capture_output=True, check=True).stdout
                if b"bench-password" not in out:
                    raise SystemExit("%s: unexpected answer %r" % (label, out))
                return (time.perf_counter() - t) * 1000

            cold = get()
            warm = sorted(get() for _ in range(args.rounds))
            rows.append((label, os.path.getsize(cmd[-1]), cold, statistics.median(warm),
                         warm[int(len(warm) * 0.9) - 1]))
    finally:
        fake.terminate()
        fake.wait()
        shutil.rmtree(work, ignore_errors=True)
    print("8. linux/arm64 binary under qemu-user (informational: emulated time is not a speed claim)")
    print("%-30s %12s %10s %12s %10s" % ("binary", "size (B)", "cold ms", "warm p50 ms", "p90 ms"))
    for label, size, cold, p50, p90 in rows:
        print("%-30s %12d %10.1f %12.2f %10.2f" % (label, size, cold, p50, p90))
    print("(%d warm rounds each; a warm get is a cache hit, no network)" % args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
