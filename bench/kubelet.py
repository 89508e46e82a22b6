#!/usr/bin/env python3
"""Section 7 of `make bench` (docs/kubelet.md): the kubelet's image credential provider.

Runs our binary as the kubelet runs a provider: a file named `ecr-credential-provider` (a link),
one process per request, a CredentialProviderRequest on stdin, against tests/fake_aws.py on
127.0.0.1. Measures, interleaved round by round:

  warm      a request with our disk cache warm: what every request after a kubelet restart costs
            us (the kubelet's memory cache is empty, ours is not)
  no-cache  the same request with the disk cache off (AWS_ECR_DISABLE_CACHE): what the
            reference (cloud-provider-aws's ecr-credential-provider, which has no disk cache)
            does after a kubelet restart, every time: resolve credentials and call ECR

and counts the API calls the fake received for each. The fake answers in well under a
millisecond on loopback; a real GetAuthorizationToken costs tens of milliseconds more (and with
assumed roles an STS call too), so the no-cache figure is a lower bound of the reference's cost.

  python3 bench/kubelet.py --ours BIN [--rounds N] [--json FILE]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HOST = "123456789012.dkr.ecr.us-west-2.amazonaws.com"
REQUEST = (
    '{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v1",'
    f'"image":"{HOST}/team/app:1.2.3"}}'
).encode()


def start_fake(work):
    here = os.path.dirname(os.path.abspath(__file__))
    port_file = os.path.join(work, "port")
    log = os.path.join(work, "fake.log")
    proc = subprocess.Popen(
        [sys.executable, os.path.join(here, "..", "tests", "fake_aws.py"), "--port", "0",
         "--port-file", port_file, "--log", log],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        if os.path.exists(port_file) and open(port_file).read().strip():
            return proc, int(open(port_file).read()), log
        time.sleep(0.05)
    proc.kill()
    sys.exit("bench/kubelet.py: the fake ECR did not start")


def calls(log):
    try:
        with open(log) as f:
            return sum(1 for line in f if "GetAuthorizationToken" in line)
    except FileNotFoundError:
        return 0


def run(link, env):
    t0 = time.perf_counter()
    p = subprocess.run([link], input=REQUEST, env=env, capture_output=True)
    dt = time.perf_counter() - t0
    if p.returncode != 0 or not p.stdout.startswith(b'{"kind":"CredentialProviderResponse"'):
        sys.exit(f"bench/kubelet.py: request failed: {p.returncode} {p.stderr!r}")
    return dt


def summary(xs):
    s = sorted(xs)
    return {"n": len(s), "median": statistics.median(s), "p90": s[int(0.9 * (len(s) - 1))],
            "min": s[0]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ours", required=True)
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--json")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ecr-bench-kubelet.") as work:
        link = os.path.join(work, "ecr-credential-provider")
        os.symlink(os.path.abspath(a.ours), link)
        fake, port, log = start_fake(work)
        try:
            base = {
                "PATH": "/usr/bin:/bin",
                "HOME": work,
                "AWS_ACCESS_KEY_ID": "AKIDBENCHKUBELET",
                "AWS_SECRET_ACCESS_KEY": "bench-secret",
                "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_ENDPOINT_URL_ECR": f"http://127.0.0.1:{port}",
                "AWS_ECR_LOG_LEVEL": "off",
            }
            warm_env = dict(base, AWS_ECR_CACHE_DIR=os.path.join(work, "cache"))
            cold_env = dict(base, AWS_ECR_CACHE_DIR=os.path.join(work, "nocache"),
                            AWS_ECR_DISABLE_CACHE="1")
            run(link, warm_env)  # fills the disk cache: the one API call of the warm runs
            for _ in range(a.warmup):
                run(link, warm_env)
                run(link, cold_env)
            warm, cold = [], []
            c0 = calls(log)
            warm_calls = cold_calls = 0
            for _ in range(a.rounds):
                before = calls(log)
                warm.append(run(link, warm_env))
                mid = calls(log)
                cold.append(run(link, cold_env))
                after = calls(log)
                warm_calls += mid - before
                cold_calls += after - mid
            assert calls(log) - c0 == warm_calls + cold_calls
        finally:
            fake.kill()
            fake.wait()
    w, c = summary(warm), summary(cold)
    ms = lambda s: s * 1000
    print("7. kubelet provider (ecr-credential-provider link, one process per request, fake ECR on 127.0.0.1)")
    print(f"   {'':34} {'median':>10} {'p90':>10} {'min':>10}   API calls")
    print(f"   {'warm (ours, disk cache)':34} {ms(w['median']):>7.3f} ms {ms(w['p90']):>7.3f} ms "
          f"{ms(w['min']):>7.3f} ms   {warm_calls} in {a.rounds}")
    print(f"   {'no disk cache (reference behaviour)':34} {ms(c['median']):>7.3f} ms {ms(c['p90']):>7.3f} ms "
          f"{ms(c['min']):>7.3f} ms   {cold_calls} in {a.rounds}")
    print(f"   ratio warm/no-cache (median): {w['median'] / c['median']:.3f}"
          "   (a real ECR call adds tens of ms to every no-cache request)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"warm": w, "no_cache": c, "warm_api_calls": warm_calls,
                       "no_cache_api_calls": cold_calls, "rounds": a.rounds}, f, indent=2)


if __name__ == "__main__":
    main()
