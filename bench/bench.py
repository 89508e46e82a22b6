#!/usr/bin/env python3
"""Benchmark driver for docker-credential-ecr-login (run by bench/run.sh; standard library only).

Measures, all on loopback with nothing reaching AWS:
  1. warm `get` latency of our helper, Debian's Go helper 0.6.0 and `cat` (the floor for any
     process), measured INTERLEAVED round-robin in one run (ours, go, cat, ours, go, cat, ...),
     each run spawned with os.posix_spawn (stdin = a file holding the registry host, stdout and
     stderr = pipes) and reaped with os.wait4; wall time from just before spawn to wait4 return;
  2. peak RSS (ru_maxrss) of a warm `get`, through the small rss_spawn launcher (see
     rss_spawn.c for why a Python-spawned child's ru_maxrss cannot be used);
  3. release binary size;
  4. cold `get` (cache miss) of our helper against the local fake ECR (informational).
Besides the ratio of medians it prints the median of per-round (paired) ratios, which moves less
when the machine's load changes during the run. --extra NAME=PATH times another build of ours
(e.g. the static one) alongside, informational.

Warm caches: ours is filled by one real `get` against tests/fake_aws.py; Go's cache.json is
written in Go 0.6.0's own format (see write_go_cache). Before the timed rounds both helpers are
checked to answer with the fake ECR up but without sending it any request; then the fake is
stopped, and every timed run must still exit 0 with the expected Secret.
"""

import argparse
import base64
import datetime
import hashlib
import json
import math
import os
import platform
import signal
import statistics
import subprocess
import sys
import time

ACCOUNT = "123456789012"
REGION = "us-west-2"
HOST = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
PASSWORD = "bench-password-3f9c2a"
ACCESS_KEY_ID = "AKIABENCHMARK0000001"
SECRET_ACCESS_KEY = "benchmark/secret/key/not/real/000000000"
EXPIRES_IN = 43200  # what ECR gives: 12 hours

HERE = os.path.dirname(os.path.abspath(__file__))
# The fake of the AWS APIs shared with the e2e suite and packaging/check-dist.sh.
FAKE_AWS = os.path.normpath(os.path.join(HERE, os.pardir, "tests", "fake_aws.py"))


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


# ---------------------------------------------------------------- process spawning

class Run:
    __slots__ = ("wall_ns", "status", "maxrss_kb", "cpu_us", "stdout", "stderr")

    @property
    def exit_code(self):
        return os.waitstatus_to_exitcode(self.status)


def spawn(path, argv, env, stdin_path):
    """Run one process: stdin from stdin_path, stdout/stderr captured. Returns a Run."""
    fin = os.open(stdin_path, os.O_RDONLY | os.O_CLOEXEC)
    r_out, w_out = os.pipe()
    r_err, w_err = os.pipe()
    actions = [
        (os.POSIX_SPAWN_DUP2, fin, 0),
        (os.POSIX_SPAWN_DUP2, w_out, 1),
        (os.POSIX_SPAWN_DUP2, w_err, 2),
    ]
    t0 = time.perf_counter_ns()
    try:
        pid = os.posix_spawn(path, argv, env, file_actions=actions)
    except OSError as e:
        for fd in (fin, r_out, w_out, r_err, w_err):
            os.close(fd)
        raise BenchError(f"cannot run {path}: {e} (removed or replaced while the benchmark ran?)")
    _, status, ru = os.wait4(pid, 0)
    t1 = time.perf_counter_ns()
    os.close(fin)
    os.close(w_out)
    os.close(w_err)
    run = Run()
    run.wall_ns = t1 - t0
    run.status = status
    run.maxrss_kb = ru.ru_maxrss  # inflated by Python's own peak: not reported (see rss_spawn.c)
    run.cpu_us = round((ru.ru_utime + ru.ru_stime) * 1e6)
    run.stdout = read_all(r_out)
    run.stderr = read_all(r_err)
    return run


def spawn_rss(launcher, path, argv, env, stdin_path):
    """Run one process through rss_spawn; returns a Run whose maxrss_kb is the child's own."""
    fin = os.open(stdin_path, os.O_RDONLY | os.O_CLOEXEC)
    r_out, w_out = os.pipe()
    r_err, w_err = os.pipe()
    r_rep, w_rep = os.pipe()
    actions = [
        (os.POSIX_SPAWN_DUP2, fin, 0),
        (os.POSIX_SPAWN_DUP2, w_out, 1),
        (os.POSIX_SPAWN_DUP2, w_err, 2),
        (os.POSIX_SPAWN_DUP2, w_rep, 3),
    ]
    t0 = time.perf_counter_ns()
    pid = os.posix_spawn(launcher, ["rss_spawn", path] + argv[1:], env, file_actions=actions)
    _, lstatus, _ = os.wait4(pid, 0)
    t1 = time.perf_counter_ns()
    for fd in (fin, w_out, w_err, w_rep):
        os.close(fd)
    report = read_all(r_rep).decode(errors="replace").split()
    run = Run()
    run.wall_ns = t1 - t0
    run.stdout = read_all(r_out)
    run.stderr = read_all(r_err)
    if os.waitstatus_to_exitcode(lstatus) != 0 or len(report) != 4:
        raise BenchError(f"rss_spawn {path} failed: status {lstatus}, report {report}")
    run.status, run.maxrss_kb, ut, st = (int(x) for x in report)
    run.cpu_us = ut + st
    return run


def read_all(fd):
    chunks = []
    while True:
        b = os.read(fd, 65536)
        if not b:
            break
        chunks.append(b)
    os.close(fd)
    return b"".join(chunks)


# ---------------------------------------------------------------- fake ECR

class FakeEcr:
    def __init__(self, work):
        self.dir = os.path.join(work, "fake")
        os.makedirs(self.dir, exist_ok=True)
        self.port_file = os.path.join(self.dir, "port")
        self.pid_file = os.path.join(self.dir, "pid")  # run.sh's trap kills it from here too
        self.log_file = os.path.join(self.dir, "requests.jsonl")
        self.proc = None
        self.port = None

    def start(self):
        self.proc = subprocess.Popen(
            [sys.executable, FAKE_AWS, "--port-file", self.port_file,
             "--pid-file", self.pid_file, "--log", self.log_file, "--password", PASSWORD,
             "--account", ACCOUNT, "--expires-in", str(EXPIRES_IN)],
            stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while not os.path.exists(self.port_file):
            if self.proc.poll() is not None:
                raise BenchError(f"fake ECR exited with {self.proc.returncode}")
            if time.monotonic() > deadline:
                raise BenchError("fake ECR did not start within 15 s")
            time.sleep(0.02)
        with open(self.port_file) as f:
            self.port = int(f.read())
        self.url = f"http://127.0.0.1:{self.port}"

    def requests(self):
        try:
            with open(self.log_file) as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        try:
            os.unlink(self.pid_file)
        except FileNotFoundError:
            pass


# ---------------------------------------------------------------- Go 0.6.0's cache

def go060_cache_key(region, access_key_id, registry_id):
    """The key Go 0.6.0 uses in cache.json for a private registry.

    ecr-login/cache/build.go (0.6.0): prefix = fmt.Sprintf("%s-%s-", region, checksum(AccessKeyID))
    with checksum(text) = base64(md5.New().Sum([]byte(text))). Sum APPENDS the digest of the
    (empty) hasher to its argument, so this is base64(access key id bytes + md5("")), not an MD5
    of the key. The full key is prefix + registry id (the 12-digit account).
    """
    checksum = base64.b64encode(access_key_id.encode() + hashlib.md5(b"").digest()).decode()
    return f"{region}-{checksum}-{registry_id}"


def go_time(ts):
    """Go's time.Time JSON form (RFC 3339 with nanoseconds), UTC."""
    dt = datetime.datetime.fromtimestamp(ts, datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


def write_go_cache(cache_dir):
    """Write cache.json as Go 0.6.0 does: {"Registries": {key: AuthEntry}, "Version": "1.0"}.

    AuthEntry = {AuthorizationToken (base64 "AWS:<password>", as ECR returns it), RequestedAt,
    ExpiresAt (time.Time), ProxyEndpoint}. Go reuses it while now < ExpiresAt - (ExpiresAt -
    RequestedAt)/2.
    """
    os.makedirs(cache_dir, mode=0o700, exist_ok=True)
    now = time.time()
    doc = {
        "Registries": {
            go060_cache_key(REGION, ACCESS_KEY_ID, ACCOUNT): {
                "AuthorizationToken": base64.b64encode(f"AWS:{PASSWORD}".encode()).decode(),
                "RequestedAt": go_time(now),
                "ExpiresAt": go_time(now + EXPIRES_IN),
                "ProxyEndpoint": f"https://{HOST}",
            }
        },
        "Version": "1.0",
    }
    path = os.path.join(cache_dir, "cache.json")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f, indent=2)
    return path


# ---------------------------------------------------------------- checks and statistics

def check_get(run, who):
    """None if run is a correct `get` answer for HOST, else a description of what was wrong."""
    if run.exit_code != 0:
        return f"{who}: exit {run.exit_code}, stdout {run.stdout!r}, stderr {run.stderr[:300]!r}"
    try:
        doc = json.loads(run.stdout)
    except ValueError:
        return f"{who}: stdout is not JSON: {run.stdout!r}"
    want = {"ServerURL": HOST, "Username": "AWS", "Secret": PASSWORD}
    if doc != want:
        return f"{who}: got {doc!r}, want {want!r}"
    return None


def check_cat(run):
    if run.exit_code != 0 or run.stdout != HOST.encode():
        return f"cat: exit {run.exit_code}, stdout {run.stdout!r}"
    return None


def pct(sorted_vals, p):
    """Nearest-rank percentile."""
    k = max(1, math.ceil(p / 100 * len(sorted_vals)))
    return sorted_vals[k - 1]


def summary(vals):
    s = sorted(vals)
    return {"n": len(s), "min": s[0], "median": statistics.median(s), "p90": pct(s, 90),
            "max": s[-1], "mean": statistics.fmean(s)}


def ms(ns):
    return ns / 1e6


def goal(ok):
    return "goal met" if ok else "GOAL NOT MET"


# ---------------------------------------------------------------- setup

def parse_args():
    ap = argparse.ArgumentParser(description="ECR credential helper benchmark (see bench/run.sh)")
    ap.add_argument("--ours", required=True, help="our release binary")
    ap.add_argument("--go", default="", help="Go helper binary ('' = skip)")
    ap.add_argument("--extra", action="append", default=[], metavar="NAME=PATH",
                    help="another build of ours to time alongside (informational), e.g. the static one")
    ap.add_argument("--cat", default="/bin/cat")
    ap.add_argument("--rss-spawn", default="", help="rss_spawn launcher ('' = no RSS figures)")
    ap.add_argument("--work", required=True, help="scratch directory (removed by run.sh)")
    ap.add_argument("--rounds", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--rss-rounds", type=int, default=30)
    ap.add_argument("--cold-runs", type=int, default=10)
    ap.add_argument("--json", default="", help="also write the results here")
    return ap.parse_args()


class Bench:
    """What every section shares: the binaries, their environments, the fake ECR, the stdin
    file, the results so far and the verification failures."""

    ARGV_OURS = ["docker-credential-ecr-login", "get"]
    ARGV_GO = ["docker-credential-ecr-login", "get"]
    ARGV_CAT = ["cat"]

    def __init__(self, a):
        self.a = a
        self.ours = os.path.abspath(a.ours)
        self.gobin = os.path.abspath(a.go) if a.go else ""
        self.extras = []
        for spec in a.extra:
            name, _, path = spec.partition("=")
            if not name or not path or name in ("ours", "go", "cat"):
                raise BenchError(f"bad --extra {spec!r}: want NAME=PATH")
            self.extras.append((name, os.path.abspath(path)))
        self.work = os.path.abspath(a.work)
        self.failures = []
        self.results = {"host": HOST}
        self.go_ok = False

        self.stdin_file = os.path.join(self.work, "stdin-host")
        with open(self.stdin_file, "w") as f:
            f.write(HOST)  # no newline: what docker sends

        self.fake = FakeEcr(self.work)
        self.fake.start()
        log(f"fake ECR listening on {self.fake.url}")

        self.base_env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
        self.aws = {"AWS_ACCESS_KEY_ID": ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
                    "AWS_EC2_METADATA_DISABLED": "true"}
        self.env_ours = self.ours_env(os.path.join(self.work, "ours"))
        go_home = os.path.join(self.work, "home-go")
        os.makedirs(go_home, exist_ok=True)
        url = self.fake.url
        # Go 0.6.0's SDK predates AWS_ENDPOINT_URL*; it is set anyway, and every HTTP(S) request Go
        # could make goes through HTTPS_PROXY = the fake (counted while it runs, refused once it is
        # stopped), so nothing can leave loopback and any cache miss shows.
        self.env_go = dict(self.base_env, **self.aws, HOME=go_home,
                           AWS_ECR_CACHE_DIR=os.path.join(self.work, "go"),
                           AWS_ENDPOINT_URL_ECR=url, AWS_ENDPOINT_URL=url,
                           HTTPS_PROXY=url, HTTP_PROXY=url, https_proxy=url, http_proxy=url)
        self.env_cat = dict(self.base_env, HOME=os.path.join(self.work, "home-ours"))

    def ours_env(self, cache_dir):
        home = os.path.join(self.work, "home-ours")
        os.makedirs(home, exist_ok=True)
        return dict(self.base_env, **self.aws, HOME=home, AWS_ECR_CACHE_DIR=cache_dir,
                    AWS_ENDPOINT_URL_ECR=self.fake.url, AWS_ENDPOINT_URL=self.fake.url)

    def requests(self):
        return len(self.fake.requests())

    def contenders(self):
        """(name, path, argv, env, check) in round-robin order: ours, go, cat, then extra builds."""
        out = [("ours", self.ours, self.ARGV_OURS, self.env_ours, check_get)]
        if self.go_ok:
            out.append(("go", self.gobin, self.ARGV_GO, self.env_go, check_get))
        out.append(("cat", self.a.cat, self.ARGV_CAT, self.env_cat, lambda r, who: check_cat(r)))
        out += [(name, path, self.ARGV_OURS, self.env_ours, check_get) for name, path in self.extras]
        return out


# ---------------------------------------------------------------- measurements

def measure_cold(b):
    """Cold gets of ours, each in a fresh cache dir (informational)."""
    cold = []
    cold_calls = []
    for i in range(b.a.cold_runs):
        before = b.requests()
        r = spawn(b.ours, b.ARGV_OURS, b.ours_env(os.path.join(b.work, "cold", str(i))), b.stdin_file)
        err = check_get(r, f"ours cold get #{i}")
        if err:
            b.failures.append(err)
        cold.append(r.wall_ns)
        cold_calls.append(b.requests() - before)
    b.results["cold_ours_ns"] = summary(cold)
    b.results["cold_ours_api_calls"] = cold_calls


def fill_caches(b):
    """Ours: one real get (same env as the timed runs). Go: cache.json in its own format."""
    before = b.requests()
    r = spawn(b.ours, b.ARGV_OURS, b.env_ours, b.stdin_file)
    err = check_get(r, "ours cache-filling get")
    if err:
        raise BenchError(err)
    fill_calls = b.requests() - before
    if fill_calls != 1:
        b.failures.append(f"ours cache-filling get made {fill_calls} API calls, expected 1")
    tokens_dir = os.path.join(b.work, "ours", "tokens")
    b.results["ours_cache_files"] = sorted(os.listdir(tokens_dir)) if os.path.isdir(tokens_dir) else []
    b.go_ok = bool(b.gobin)
    if b.gobin:
        b.results["go_cache_file"] = write_go_cache(os.path.join(b.work, "go"))


def warm_checks(b):
    """With the fake still up, every helper must answer from its cache: no request may reach it."""
    before = b.requests()
    for i in range(5):
        err = check_get(spawn(b.ours, b.ARGV_OURS, b.env_ours, b.stdin_file), f"ours warm check #{i}")
        if err:
            b.failures.append(err)
    ours_calls = b.requests() - before
    if ours_calls:
        b.failures.append(f"ours: 5 warm gets sent {ours_calls} requests to the fake ECR "
                          "(expected 0: not cache hits)")
    if b.gobin:
        before = b.requests()
        go_errs = [check_get(spawn(b.gobin, b.ARGV_GO, b.env_go, b.stdin_file), f"go warm check #{i}")
                   for i in range(5)]
        go_reqs = b.fake.requests()[before:]
        if any(go_errs) or go_reqs:
            b.go_ok = False
            log("Go helper does not answer from the cache.json written for it:")
            for e in filter(None, go_errs):
                log("  " + e)
            for q in go_reqs:
                log(f"  request seen: {q}")
            b.failures.append(f"go: not answering from its cache.json ({len(go_reqs)} requests "
                              "reached the fake): excluded from the comparison")
    b.results["warm_check_requests"] = {"ours": ours_calls}
    # extra builds share ours' cache dir and environment; one get each with the fake up (a
    # hit if they read ours' entry, else they fetch their own), then 5 that must all be hits
    for name, path in b.extras:
        err = check_get(spawn(path, b.ARGV_OURS, b.env_ours, b.stdin_file), f"{name} first get")
        if err:
            b.failures.append(err)
        before = b.requests()
        for i in range(5):
            err = check_get(spawn(path, b.ARGV_OURS, b.env_ours, b.stdin_file), f"{name} warm check #{i}")
            if err:
                b.failures.append(err)
        n = b.requests() - before
        b.results["warm_check_requests"][name] = n
        if n:
            b.failures.append(f"{name}: 5 warm gets sent {n} requests to the fake ECR")


def timed_rounds(b, contenders):
    """Warm-up, then interleaved timed rounds of every contender; wall and CPU time."""
    a = b.a
    for _ in range(a.warmup):
        for name, path, argv, env, chk in contenders:
            spawn(path, argv, env, b.stdin_file)
    wall = {c[0]: [] for c in contenders}
    cpu = {c[0]: [] for c in contenders}
    bad = {c[0]: 0 for c in contenders}
    first_bad = {}
    stderr_runs = {c[0]: 0 for c in contenders}
    for i in range(a.rounds):
        for name, path, argv, env, chk in contenders:
            r = spawn(path, argv, env, b.stdin_file)
            err = chk(r, f"{name} round {i}")
            if err:
                bad[name] += 1
                first_bad.setdefault(name, err)
            if r.stderr:
                stderr_runs[name] += 1
                first_bad.setdefault(name + " stderr", r.stderr[:300])
            wall[name].append(r.wall_ns)
            cpu[name].append(r.cpu_us)
    for name, n in bad.items():
        if n:
            b.failures.append(f"{name}: {n} of {a.rounds} timed runs wrong; first: {first_bad[name]}")
    for name in ["ours"] + [e[0] for e in b.extras]:
        if stderr_runs[name]:
            b.failures.append(f"{name}: {stderr_runs[name]} of {a.rounds} warm gets wrote to "
                              f"stderr; first: {first_bad[name + ' stderr']!r}")
    b.results["stderr_runs"] = stderr_runs
    b.results["wall_ns"] = {k: summary(v) for k, v in wall.items()}
    # per-round (paired) ratios: each round's runs are adjacent in time, so these move less
    # than a ratio of medians when the machine's load changes during the run
    paired = {}
    for other in ("go", "cat"):
        if other in wall:
            paired[f"ours/{other}"] = statistics.median(
                o / x for o, x in zip(wall["ours"], wall[other]))
    b.results["paired_median_ratio"] = paired
    b.results["cpu_us"] = {k: summary(v) for k, v in cpu.items()}


def measure_rss(b, contenders):
    """Peak RSS, interleaved, through the small launcher (see rss_spawn.c)."""
    a = b.a
    rss = {c[0]: [] for c in contenders}
    for i in range(a.rss_rounds):
        for name, path, argv, env, chk in contenders:
            r = spawn_rss(a.rss_spawn, path, argv, env, b.stdin_file)
            err = chk(r, f"{name} rss round {i}")
            if err:
                b.failures.append(err)
            rss[name].append(r.maxrss_kb)
    b.results["maxrss_kb"] = {k: summary(v) for k, v in rss.items()}
    b.results["launcher_floor_kb"] = spawn_rss(
        a.rss_spawn, "/bin/true", ["true"], b.env_cat, b.stdin_file).maxrss_kb


def measure(b):
    try:
        measure_cold(b)
        fill_caches(b)
        warm_checks(b)
        # ---- stop the fake: from here on a cache miss is an error
        b.fake.stop()
        log("fake ECR stopped; timed rounds follow")
        contenders = b.contenders()
        timed_rounds(b, contenders)
        if b.a.rss_spawn:
            measure_rss(b, contenders)
        b.results["go_ok"] = b.go_ok
    finally:
        b.fake.stop()


# ---------------------------------------------------------------- report

def report_header(b, p, load_start):
    p("")
    p("== docker-credential-ecr-login benchmark ==")
    load_end = os.getloadavg()
    p(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Linux {platform.release()}; "
      f"load avg (1/5/15 min) at start {', '.join(f'{x:.2f}' for x in load_start)}, "
      f"at end {', '.join(f'{x:.2f}' for x in load_end)}")
    if max(load_start[0], load_end[0]) > 0.5 * (os.cpu_count() or 1):
        p("   NOTE: the machine was busy with other work: absolute times are inflated and the ratios"
          " are noisier than on an idle machine")
    p(f"registry host: {HOST}; stdin = that host (no newline); stdout/stderr = pipes")
    p(f"ours: {b.ours}")
    for name, path in b.extras:
        p(f"{name}: {path}  (informational; no goals)")
    p(f"go:   {b.gobin or '(not available)'}"
      f"{'' if b.go_ok or not b.gobin else '  (NOT a cache hit: excluded, see above)'}")
    p("")


def report_latency(b, p):
    a, results = b.a, b.results
    w = results["wall_ns"]
    c = results["cpu_us"]
    p(f"1. Warm `get` wall time (cache hit), {a.rounds} interleaved rounds after {a.warmup} "
      "warm-up rounds, posix_spawn -> wait4:")
    p(f"   {'':12} {'median':>10} {'p90':>10} {'min':>10} {'mean':>10}   {'CPU user+sys median':>20}")
    for name in w:
        s = w[name]
        p(f"   {name:12} {ms(s['median']):>7.3f} ms {ms(s['p90']):>7.3f} ms {ms(s['min']):>7.3f} ms "
          f"{ms(s['mean']):>7.3f} ms   {c[name]['median'] / 1000:>17.3f} ms")
    ratios = {}
    pr = results["paired_median_ratio"]
    if "go" in w:
        ratios["ours/go"] = w["ours"]["median"] / w["go"]["median"]
        ratios["ours/go p90"] = w["ours"]["p90"] / w["go"]["p90"]
        p(f"   ratio ours/go  (median): {ratios['ours/go']:.3f}   (p90: {ratios['ours/go p90']:.3f})"
          f"   goal <= 0.4: {goal(ratios['ours/go'] <= 0.4)}")
        p(f"                            per-round paired median: {pr['ours/go']:.3f}")
    ratios["ours/cat"] = w["ours"]["median"] / w["cat"]["median"]
    ratios["ours/cat p90"] = w["ours"]["p90"] / w["cat"]["p90"]
    p(f"   ratio ours/cat (median): {ratios['ours/cat']:.3f}   (p90: {ratios['ours/cat p90']:.3f})"
      f"   goal <= 1.5: {goal(ratios['ours/cat'] <= 1.5)}")
    p(f"                            per-round paired median: {pr['ours/cat']:.3f}")
    for name, _ in b.extras:
        ratios[f"{name}/cat"] = w[name]["median"] / w["cat"]["median"]
        line = f"   {name}: /cat {ratios[f'{name}/cat']:.3f}"
        if "go" in w:
            ratios[f"{name}/go"] = w[name]["median"] / w["go"]["median"]
            line += f", /go {ratios[f'{name}/go']:.3f}"
        p(line + " (median, informational)")
    results["ratios"] = ratios
    p("")


def report_rss(b, p):
    results = b.results
    if "maxrss_kb" in results:
        r = results["maxrss_kb"]
        p(f"2. Peak RSS (ru_maxrss) of a warm `get`, {b.a.rss_rounds} interleaved rounds via rss_spawn "
          f"(floor: /bin/true through the launcher = {results['launcher_floor_kb']} KiB):")
        for name in r:
            p(f"   {name:12} median {r[name]['median']:>7.0f} KiB = {r[name]['median'] / 1024:6.2f} MiB"
              f"   (max {r[name]['max']} KiB)")
        if "go" in r:
            p(f"   ours/go: {r['ours']['median'] / r['go']['median']:.3f}"
              f"   goal ours < go: {goal(r['ours']['median'] < r['go']['median'])}")
    else:
        p("2. Peak RSS: not measured (no C compiler to build bench/rss_spawn.c)")
    p("")


def report_size(b, p):
    results = b.results
    size = results["binary_size_bytes"]
    p(f"3. Release binary size: {size} bytes = {size / 1e6:.2f} MB ({size / 2**20:.2f} MiB)"
      f"   goal <= 6 MB: {goal(size <= 6_000_000)}")
    for name, path in b.extras:
        es = os.path.getsize(path)
        results[f"{name}_binary_size_bytes"] = es
        p(f"   ({name}: {es} bytes = {es / 1e6:.2f} MB)")
    if b.gobin:
        gs = results["go_binary_size_bytes"]
        p(f"   (Go 0.6.0 binary: {gs} bytes = {gs / 1e6:.2f} MB)")
    p("")


def report_cold(b, p):
    results = b.results
    cs = results["cold_ours_ns"]
    p(f"4. Cold `get` of ours (cache miss, fresh cache dir, 1 GetAuthorizationToken from the local "
      f"fake ECR over http), {cs['n']} runs (informational):")
    p(f"   median {ms(cs['median']):.3f} ms, p90 {ms(cs['p90']):.3f} ms, min {ms(cs['min']):.3f} ms;"
      f" API calls per cold get: {sorted(set(results['cold_ours_api_calls']))}")
    p("   (Go 0.6.0 has no cold figure: its SDK has no endpoint override and speaks only https to"
      " the real AWS hosts.)")
    p("")


def report_verification(b, p):
    if b.failures:
        p("VERIFICATION FAILURES:")
        for f in b.failures:
            p("   " + f)
    else:
        p("verification: every timed/RSS run of ours" + "".join(f", {n}" for n, _ in b.extras)
          + (" and go" if b.go_ok else "")
          + " exited 0 with the expected Secret with the fake ECR stopped; 0 requests reached the"
          " fake during the warm checks; ours wrote nothing to stderr")
    n_json = sum(1 for f in b.results["ours_cache_files"] if f.endswith(".json"))
    p(f"   caches: ours {n_json} token entry file(s) in tokens/; go cache.json"
      f" {'(written in Go 0.6.0 format)' if b.gobin else '(n/a)'}")


def report(b, load_start):
    b.results["binary_size_bytes"] = os.path.getsize(b.ours)
    if b.gobin:
        b.results["go_binary_size_bytes"] = os.path.getsize(b.gobin)
    out = []
    p = out.append
    report_header(b, p, load_start)
    report_latency(b, p)
    report_rss(b, p)
    report_size(b, p)
    report_cold(b, p)
    report_verification(b, p)
    return out


# ---------------------------------------------------------------- main

def main():
    a = parse_args()
    load_start = os.getloadavg()
    b = Bench(a)
    measure(b)
    print("\n".join(report(b, load_start)), flush=True)
    b.results["failures"] = b.failures
    if a.json:
        with open(a.json, "w") as f:
            json.dump(b.results, f, indent=2)
    return 1 if b.failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        log(f"bench: {e}")
        sys.exit(1)
