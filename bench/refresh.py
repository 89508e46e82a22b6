#!/usr/bin/env python3
"""Background refresh and one token per region (issue 22; docs/contract.md §8.3). Standard library
only (plus the openssl CLI for the Go helper's row). Run by bench/run.sh as section 9; alone:

    python3 bench/refresh.py --ours BIN [--baseline BIN] [--go BIN] [--json FILE]

  a. Warm hit, stale hit and `cat`, interleaved round-robin (as section 1): a *stale hit* is a
     `get` that finds its entry past the refresh point (aged 7 hours, still valid for 5): it
     answers from the cache and starts the background refresh. For each one: its wall time, the
     API calls made by the `get` process itself (from its log lines, by pid: the refresher's are
     its own), and how long after the `get` started the refreshed entry is on disk. With
     --baseline (a build of the previous commit), its warm hit is timed in the same rounds: ours
     must be within 5% of it (median of per-round ratios).
  b. A simulated day: 48 pulls, one every 30 minutes (the cache is aged 30 minutes between
     pulls, after any refresh has landed), with background refresh on and off: API calls in all,
     API calls on the pulls' own path, and the pulls that waited for one.
  c. Five accounts in two regions, cold: the API calls of ten `get`s (one per registry) in a fresh
     cache; the previous behaviour, and the Go helper's, is one per registry (10). Target: 2.

Everything stays on 127.0.0.1 (tests/fake_aws.py); timings are informational, and a wrong answer
or a wrong call count makes the exit status 1.
"""

import argparse
import base64
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE_AWS = os.path.normpath(os.path.join(HERE, os.pardir, "tests", "fake_aws.py"))

ACCOUNT = "123456789012"
REGION = "us-west-2"
HOST = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
KEYS = {"AWS_ACCESS_KEY_ID": "AKIAREFRESHBENCH0001",
        "AWS_SECRET_ACCESS_KEY": "refresh/benchmark/secret/not/real/0000"}
ECR_TARGET = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken"
ACCOUNTS = ["111111111111", "222222222222", "333333333333", "444444444444", "555555555555"]
REGIONS = ["us-west-2", "eu-west-1"]
AGE_STALE = 7 * 3600  # past the 6 h refresh point, 5 h before expiry


def log(msg):
    print(f"refresh: {msg}", file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


class Fake:
    """tests/fake_aws.py in a child process, with its own request log."""

    def __init__(self, work, name, args=()):
        self.dir = os.path.join(work, "fake-" + name)
        os.makedirs(self.dir)
        self.log_file = os.path.join(self.dir, "requests.jsonl")
        port_file = os.path.join(self.dir, "port")
        self.pid_file = os.path.join(work, "fake.pid")  # run.sh's cleanup kills it from here
        self.proc = subprocess.Popen(
            [sys.executable, FAKE_AWS, "--port-file", port_file, "--pid-file", self.pid_file,
             "--log", self.log_file, "--account", ACCOUNT, *args], stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while not os.path.exists(port_file):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise BenchError(f"fake ECR ({name}) did not start")
            time.sleep(0.02)
        with open(port_file) as f:
            self.url = "http://127.0.0.1:%d" % int(f.read())

    def calls(self):
        try:
            with open(self.log_file) as f:
                reqs = [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return 0
        return sum(1 for q in reqs if q.get("method") == "POST" and q.get("target") == ECR_TARGET)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        try:
            os.unlink(self.pid_file)
        except FileNotFoundError:
            pass


def spawn(path, env, stdin_path, argv0="docker-credential-ecr-login", args=("get",)):
    """One run: stdin from a file, stdout and stderr piped and read to EOF (as Docker does: a
    process that kept them open would show here). Returns (wall_ns, pid, exit code, stdout)."""
    fin = os.open(stdin_path, os.O_RDONLY | os.O_CLOEXEC)
    r_out, w_out = os.pipe()
    r_err, w_err = os.pipe()
    actions = [(os.POSIX_SPAWN_DUP2, fin, 0), (os.POSIX_SPAWN_DUP2, w_out, 1),
               (os.POSIX_SPAWN_DUP2, w_err, 2)]
    t0 = time.perf_counter_ns()
    try:
        pid = os.posix_spawn(path, [argv0, *args], env, file_actions=actions)
    finally:
        for fd in (fin, w_out, w_err):
            os.close(fd)
    out = b""
    while True:  # EOF: every holder of the write end is gone
        chunk = os.read(r_out, 65536)
        if not chunk:
            break
        out += chunk
    while os.read(r_err, 65536):
        pass
    _, status = os.waitpid(pid, 0)
    wall = time.perf_counter_ns() - t0
    os.close(r_out)
    os.close(r_err)
    return wall, t0, pid, os.waitstatus_to_exitcode(status), out


def host_file(work, host):
    p = os.path.join(work, "stdin-" + host)
    with open(p, "w") as f:
        f.write(host)
    return p


def entries(cache):
    d = os.path.join(cache, "tokens")
    out = {}
    for n in os.listdir(d) if os.path.isdir(d) else []:
        if n.endswith(".json"):
            try:
                with open(os.path.join(d, n)) as f:
                    out[n] = json.load(f)
            except (OSError, ValueError):
                pass
    return out


def age(cache, secs):
    """Moves every entry `secs` into the past (fetch time and expiry), atomically."""
    d = os.path.join(cache, "tokens")
    for n, v in entries(cache).items():
        v["fetched_at"] -= secs
        v["expires_at"] -= secs
        tmp = os.path.join(d, n + ".bench")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(v, f)
        os.rename(tmp, os.path.join(d, n))


def refreshing(cache):
    d = os.path.join(cache, "tokens")
    return any(n.endswith(".refreshing") for n in os.listdir(d)) if os.path.isdir(d) else False


def host_fetched_at(cache, host):
    for v in entries(cache).values():
        if v.get("registry") == host:
            return v["fetched_at"]
    return None


def wait_refreshed(cache, host, old, limit=30.0):
    """Polls (1 ms) until `host`'s entry on disk is newer than `old` and no refresh is under way;
    returns the perf_counter_ns when seen, or None."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        now = host_fetched_at(cache, host)
        if now is not None and now != old and not refreshing(cache):
            return time.perf_counter_ns()
        time.sleep(0.001)
    return None


def caller_calls(cache, pid):
    """GetAuthorizationToken calls logged by process `pid` itself (not by a refresher it started)."""
    d = os.path.join(cache, "log")
    n = 0
    for name in os.listdir(d) if os.path.isdir(d) else []:
        with open(os.path.join(d, name), errors="replace") as f:
            for line in f:
                if f"run{{pid={pid}}}" in line and "GetAuthorizationToken" in line:
                    n += 1
    return n


def refresher_of(cache, pid):
    """The pid of the refresher process `pid` started (from its log line), or None."""
    d = os.path.join(cache, "log")
    for name in os.listdir(d) if os.path.isdir(d) else []:
        with open(os.path.join(d, name), errors="replace") as f:
            for line in f:
                if f"run{{pid={pid}}}" in line and "background refresh started" in line:
                    m = re.search(r"started pid=(\d+)", line)
                    if m:
                        return int(m.group(1))
    return None


def wait_gone(pid, limit=30.0):
    """Until process `pid` has exited (gone, or a zombie nobody reaped), so it takes no CPU from
    the next timed run."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return
        except (FileNotFoundError, ProcessLookupError, IndexError):
            return
        time.sleep(0.001)


def secret_of(out):
    try:
        return json.loads(out)["Secret"]
    except (ValueError, KeyError, TypeError):
        return None


def med_ms(ns):
    return statistics.median(ns) / 1e6 if ns else float("nan")


# ---------------------------------------------------------------- a. warm hit vs stale hit

def section_a(a, work, fake, failures, out):
    base = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", **KEYS, "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_ENDPOINT_URL_ECR": fake.url}
    stdin = host_file(work, HOST)

    def env_for(tag):
        home = os.path.join(work, "a-home-" + tag)
        os.makedirs(home, exist_ok=True)
        return dict(base, HOME=home, AWS_ECR_CACHE_DIR=os.path.join(work, "a-" + tag))

    contenders = [("warm", a.ours, env_for("warm"))]
    if a.baseline:
        contenders.append(("baseline-warm", a.baseline, env_for("baseline")))
    stale_env = env_for("stale")
    stale_cache = stale_env["AWS_ECR_CACHE_DIR"]
    for name, binary, env in contenders + [("stale", a.ours, stale_env)]:
        _, _, _, code, o = spawn(binary, env, stdin)
        if code != 0 or not secret_of(o):
            raise BenchError(f"{name}: cache-filling get failed ({code})")
    times = {name: [] for name, _, _ in contenders}
    times.update(stale=[], cat=[])
    on_disk, own_calls, wrong = [], 0, 0
    for i in range(a.warmup + a.rounds):
        row = {}
        # Ours and the baseline take turns going first.
        for name, binary, env in contenders if i % 2 == 0 else contenders[::-1]:
            wall, _, _, code, o = spawn(binary, env, stdin)
            wrong += code != 0 or not secret_of(o)
            row[name] = wall
        wall, _, _, code, o = spawn(a.cat, {"PATH": "/usr/bin:/bin"}, stdin, argv0="cat", args=())
        row["cat"] = wall
        # The stale hit: its entry 7 h old; it answers, a refresher fetches.
        old = host_fetched_at(stale_cache, HOST)
        before = fake.calls()
        age(stale_cache, AGE_STALE)
        wall, t0, pid, code, o = spawn(a.ours, stale_env, stdin)
        wrong += code != 0 or not secret_of(o)
        row["stale"] = wall
        seen = wait_refreshed(stale_cache, HOST, old - AGE_STALE)
        if seen is None:
            failures.append(f"stale hit #{i}: the refreshed entry never appeared")
            break
        # The refresher gone before the next round: it must not take CPU from a timed run.
        refresher = refresher_of(stale_cache, pid)
        if refresher:
            wait_gone(refresher)
        if fake.calls() - before != 1:
            failures.append(f"stale hit #{i}: {fake.calls() - before} API calls, expected 1 (the refresher's)")
        if i >= a.warmup:
            own_calls += caller_calls(stale_cache, pid)
            on_disk.append(seen - t0)
            for k, v in row.items():
                times[k].append(v)
    if wrong:
        failures.append(f"{wrong} gets gave a wrong answer")
    if own_calls:
        failures.append(f"stale hits made {own_calls} API calls on the caller's path (expected 0)")
    res = {k: {"median_ms": med_ms(v), "n": len(v)} for k, v in times.items()}
    res["stale_caller_api_calls"] = own_calls
    res["refreshed_on_disk_ms"] = {"median": med_ms(on_disk),
                                   "p90": sorted(on_disk)[int(len(on_disk) * 0.9)] / 1e6 if on_disk else None}
    print("9a. warm hit, stale hit (answered from the cache, refreshed in the background), cat")
    print(f"    rounds: {a.rounds} (after {a.warmup} warm-up), interleaved")
    for k in [c[0] for c in contenders] + ["stale", "cat"]:
        print(f"    {k:<14} median {res[k]['median_ms']:7.3f} ms")
    print(f"    stale hits: API calls on the caller's path: {own_calls}")
    print(f"    refreshed entry on disk after the stale get started: median "
          f"{res['refreshed_on_disk_ms']['median']:.1f} ms, p90 {res['refreshed_on_disk_ms']['p90']:.1f} ms")
    if a.baseline and times["warm"]:
        ratios = sorted(w / b for w, b in zip(times["warm"], times["baseline-warm"]))
        r = statistics.median(ratios)
        res["warm_vs_baseline_paired_median"] = r
        ok = r <= 1.05
        print(f"    warm hit vs baseline (median of per-round ratios): {r:.3f} "
              f"({'ok' if ok else 'NOT ok'}: goal <= 1.05)")
        if not ok:
            failures.append(f"warm hit {r:.3f}x the baseline's (goal <= 1.05)")
    out["a"] = res


# ---------------------------------------------------------------- b. a simulated day

def section_b(a, work, fake, failures, out):
    stdin = host_file(work, HOST)
    res = {}
    print("9b. a simulated day: 48 pulls, one every 30 minutes")
    for mode, extra in [("background", {}), ("foreground", {"AWS_ECR_BACKGROUND_REFRESH": "0"})]:
        home = os.path.join(work, "b-home-" + mode)
        os.makedirs(home)
        cache = os.path.join(work, "b-" + mode)
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", **KEYS, "HOME": home,
               "AWS_EC2_METADATA_DISABLED": "true", "AWS_ENDPOINT_URL_ECR": fake.url,
               "AWS_ECR_CACHE_DIR": cache, **extra}
        before = fake.calls()
        walls, own, waited = [], 0, 0
        for i in range(48):
            if i:
                deadline = time.monotonic() + 30
                while refreshing(cache) and time.monotonic() < deadline:
                    time.sleep(0.001)
                age(cache, 1800)
            wall, _, pid, code, o = spawn(a.ours, env, stdin)
            if code != 0 or not secret_of(o):
                failures.append(f"day ({mode}) pull {i}: exit {code}")
            walls.append(wall)
            c = caller_calls(cache, pid)
            own += c
            waited += c > 0
        deadline = time.monotonic() + 30
        while refreshing(cache) and time.monotonic() < deadline:
            time.sleep(0.001)
        total = fake.calls() - before
        res[mode] = {"api_calls": total, "caller_path_api_calls": own, "pulls_that_waited": waited,
                     "median_ms": med_ms(walls), "max_ms": max(walls) / 1e6}
        print(f"    {mode:<10} API calls {total:2d}, on the pulls' path {own:2d}, pulls that waited "
              f"{waited:2d}, median {med_ms(walls):.2f} ms, slowest {max(walls) / 1e6:.2f} ms")
    if res["background"]["pulls_that_waited"] != 1:
        failures.append(f"day: {res['background']['pulls_that_waited']} pulls waited for AWS "
                        "with background refresh (expected 1: the first)")
    out["b"] = res


# ---------------------------------------------------------------- c. five accounts, two regions

def make_tls(work):
    """A throwaway CA and a certificate for both regions' API hosts; None without openssl."""
    openssl = shutil.which("openssl")
    if not openssl:
        return None
    d = os.path.join(work, "tls")
    os.makedirs(d)
    p = lambda n: os.path.join(d, n)
    sans = ",".join(f"DNS:api.ecr.{r}.amazonaws.com" for r in REGIONS)
    with open(p("ext"), "w") as f:
        f.write(f"subjectAltName={sans}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for cmd in [
        [openssl, "req", "-x509", *ec, "-keyout", p("ca.key"), "-out", p("ca.pem"), "-days", "2",
         "-subj", "/CN=refresh bench throwaway CA", "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign"],
        [openssl, "req", *ec, "-keyout", p("leaf.key"), "-out", p("leaf.csr"), "-subj", "/CN=api.ecr"],
        [openssl, "x509", "-req", "-in", p("leaf.csr"), "-CA", p("ca.pem"), "-CAkey", p("ca.key"),
         "-CAcreateserial", "-out", p("leaf.pem"), "-days", "2", "-extfile", p("ext")],
    ]:
        if subprocess.run(cmd, capture_output=True, stdin=subprocess.DEVNULL).returncode != 0:
            return None
    return {"ca": p("ca.pem"), "cert": p("leaf.pem"), "key": p("leaf.key")}


def section_c(a, work, fake, failures, out):
    hosts = [f"{acct}.dkr.ecr.{r}.amazonaws.com" for r in REGIONS for acct in ACCOUNTS]
    res = {"registries": len(hosts)}

    def run(who, binary, env, fk):
        before = fk.calls()
        bad = 0
        for h in hosts:
            _, _, _, code, o = spawn(binary, env, host_file(work, h))
            bad += code != 0 or not secret_of(o)
        return fk.calls() - before, bad

    home = os.path.join(work, "c-home-ours")
    os.makedirs(home)
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", **KEYS, "HOME": home,
           "AWS_EC2_METADATA_DISABLED": "true", "AWS_ENDPOINT_URL_ECR": fake.url}
    calls, bad = run("ours", a.ours, env, fake)
    res["ours"] = calls
    if bad:
        failures.append(f"five accounts: {bad} of ours' gets failed")
    if calls != len(REGIONS):
        failures.append(f"five accounts in two regions: {calls} API calls (target {len(REGIONS)})")
    if a.baseline:
        home = os.path.join(work, "c-home-baseline")
        os.makedirs(home)
        res["baseline"], _ = run("baseline", a.baseline, dict(env, HOME=home), fake)
    if a.go:
        tls = make_tls(work)
        if tls is None:
            log("no usable openssl: the Go helper's row is skipped")
        else:
            gfake = Fake(work, "c-go", ["--connect", "tls", "--tls-cert", tls["cert"],
                                         "--tls-key", tls["key"]])
            try:
                home = os.path.join(work, "c-home-go")
                os.makedirs(home)
                genv = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", **KEYS, "HOME": home,
                        "AWS_EC2_METADATA_DISABLED": "true", "HTTPS_PROXY": gfake.url,
                        "HTTP_PROXY": gfake.url, "AWS_CA_BUNDLE": tls["ca"],
                        "SSL_CERT_FILE": tls["ca"]}
                res["go"], res["go_failed"] = run("go", a.go, genv, gfake)
            finally:
                gfake.stop()
    print(f"9c. five accounts in two regions, cold: API calls for {len(hosts)} registries")
    print(f"    ours      {res['ours']:2d}  (target {len(REGIONS)})")
    if "baseline" in res:
        print(f"    baseline  {res['baseline']:2d}  (the previous commit)")
    if "go" in res:
        note = f", {res['go_failed']} gets failed" if res["go_failed"] else ""
        print(f"    go        {res['go']:2d}{note}")
    out["c"] = res


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ours", required=True)
    ap.add_argument("--baseline", default="", help="a build of the previous commit ('' = none)")
    ap.add_argument("--go", default="", help="Debian's Go helper ('' = skip)")
    ap.add_argument("--cat", default=shutil.which("cat") or "/bin/cat")
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--work", default="")
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    a.ours = os.path.abspath(a.ours)
    a.baseline = os.path.abspath(a.baseline) if a.baseline else ""
    own_work = not a.work
    work = tempfile.mkdtemp(prefix="ecr-refresh.") if own_work else os.path.abspath(a.work)
    os.makedirs(work, exist_ok=True)
    failures, out = [], {}
    if a.baseline:
        # Both binaries copied side by side, so neither is favoured by where it lies (a build's
        # output, hard-linked and rewritten by cargo, measured slower than a copy of itself).
        for name in ("ours", "baseline"):
            copy = os.path.join(work, "bin-" + name)
            shutil.copy2(getattr(a, name), copy)
            setattr(a, name, copy)
    fake = Fake(work, "main", ["--expires-in", "43200"])
    try:
        print("== 9. background refresh and one token per region (bench/refresh.py)")
        section_a(a, work, fake, failures, out)
        section_b(a, work, fake, failures, out)
        section_c(a, work, fake, failures, out)
    finally:
        fake.stop()
        if own_work:
            shutil.rmtree(work, ignore_errors=True)
    out["failures"] = failures
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=2)
    for f in failures:
        print(f"    FAILED: {f}")
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        log(str(e))
        sys.exit(1)
