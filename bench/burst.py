#!/usr/bin/env python3
"""Burst benchmark (docs/contract.md §10, shared failures): many concurrent cold `get`s of one
registry when the fetch fails. Standard library only (plus the openssl CLI for the Go helper's
scenario 3).

For our helper and, when given, Debian's Go helper 0.6.0, three scenarios; in each, N processes
share one fresh cache dir (HOME in a temp dir, so ~/.ecr), all spawned back to back with
os.posix_spawn (stdin = a file holding the registry host), reaped with os.wait4 as they end:

  1. no credentials: 20 gets, no keys in the environment, the metadata service (IMDS)
     black-holed through AWS_EC2_METADATA_SERVICE_ENDPOINT (a socket that accepts and never
     answers); goal for ours: all done in <= ~1.5 s;
  2. API black-holed: 20 gets with keys set, the ECR API black-holed; goal for ours <= ~5 s;
  3. failing API: 200 gets with keys set against tests/fake_aws.py --fail-500-after 2 (HTTP 500
     ServerException after 2 s); goal for ours: a handful of API calls, not 200.

Each run must exit 1 with `credentials not found in native keychain` on stdout. The timings are
informational (no goal is asserted); a wrong outcome makes the exit status 1.

How the Go helper is kept on loopback: its SDK (aws-sdk-go-v2 1.17) predates AWS_ENDPOINT_URL_*
and speaks only https to the real AWS names, so every Go run has HTTPS_PROXY/HTTP_PROXY set to a
local socket. Scenario 1: the proxy is the black hole too (IMDS at the loopback endpoint is
reached directly). Scenario 2: a fake_aws.py that answers CONNECT with 200 and then nothing (the
API host accepts and never answers, behind a working proxy). Scenario 3: a fake_aws.py that
answers CONNECT and serves the tunnel as TLS with a certificate for api.ecr.<region>.amazonaws.com
from a throwaway CA (AWS_CA_BUNDLE and SSL_CERT_FILE point the Go helper at that CA); without the
openssl CLI that scenario is skipped for Go.

Run alone:  python3 bench/burst.py --ours BIN [--go BIN] [--json FILE]
"""

import argparse
import collections
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ACCOUNT = "123456789012"
REGION = "us-west-2"
HOST = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
API_HOST = f"api.ecr.{REGION}.amazonaws.com"
NOT_FOUND = b"credentials not found in native keychain"
ECR_TARGET = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken"
KEYS = {"AWS_ACCESS_KEY_ID": "AKIABURSTBENCH000001",
        "AWS_SECRET_ACCESS_KEY": "burst/benchmark/secret/not/real/0000000"}

HERE = os.path.dirname(os.path.abspath(__file__))
# The fake of the AWS APIs shared with the e2e suite and packaging/check-dist.sh.
FAKE_AWS = os.path.normpath(os.path.join(HERE, os.pardir, "tests", "fake_aws.py"))


def log(msg):
    print(f"burst: {msg}", file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


# ---------------------------------------------------------------- local servers

class BlackHole:
    """A listening socket that is never accepted from: connections complete (kernel backlog),
    requests are never answered."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1024)
        self.url = "http://127.0.0.1:%d" % self.sock.getsockname()[1]

    def close(self):
        self.sock.close()


class Fake:
    """tests/fake_aws.py in a child process, with its own request log."""

    def __init__(self, work, name, args):
        self.dir = os.path.join(work, "fake-" + name)
        os.makedirs(self.dir)
        self.log_file = os.path.join(self.dir, "requests.jsonl")
        port_file = os.path.join(self.dir, "port")
        self.pid_file = os.path.join(work, "fake.pid")  # run.sh's cleanup kills it from here
        self.proc = subprocess.Popen(
            [sys.executable, FAKE_AWS, "--port-file", port_file,
             "--pid-file", self.pid_file, "--log", self.log_file, "--account", ACCOUNT] + args,
            stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while not os.path.exists(port_file):
            if self.proc.poll() is not None:
                raise BenchError(f"fake ECR ({name}) exited with {self.proc.returncode}")
            if time.monotonic() > deadline:
                self.stop()
                raise BenchError(f"fake ECR ({name}) did not start within 15 s")
            time.sleep(0.02)
        with open(port_file) as f:
            self.url = "http://127.0.0.1:%d" % int(f.read())

    def requests(self):
        try:
            with open(self.log_file) as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

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


def make_tls(work):
    """A throwaway CA and a certificate for API_HOST signed by it; None without openssl."""
    openssl = shutil.which("openssl")
    if not openssl:
        return None
    d = os.path.join(work, "tls")
    os.makedirs(d)
    p = lambda n: os.path.join(d, n)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    with open(p("ext"), "w") as f:
        f.write(f"subjectAltName=DNS:{API_HOST}\nextendedKeyUsage=serverAuth\n"
                "basicConstraints=CA:FALSE\n")
    steps = [
        [openssl, "req", "-x509", *ec, "-keyout", p("ca.key"), "-out", p("ca.pem"), "-days", "2",
         "-subj", "/CN=burst bench throwaway CA", "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign"],
        [openssl, "req", *ec, "-keyout", p("leaf.key"), "-out", p("leaf.csr"), "-subj", f"/CN={API_HOST}"],
        [openssl, "x509", "-req", "-in", p("leaf.csr"), "-CA", p("ca.pem"), "-CAkey", p("ca.key"),
         "-CAcreateserial", "-out", p("leaf.pem"), "-days", "2", "-extfile", p("ext")],
    ]
    for cmd in steps:
        r = subprocess.run(cmd, capture_output=True, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            log(f"openssl failed ({r.stderr.decode(errors='replace').strip()[:200]}): "
                "Go's scenario 3 is skipped")
            return None
    return {"ca": p("ca.pem"), "cert": p("leaf.pem"), "key": p("leaf.key")}


# ---------------------------------------------------------------- the burst

class Result:
    __slots__ = ("wall", "status", "killed", "stdout", "stderr")

    @property
    def exit_code(self):
        return os.waitstatus_to_exitcode(self.status)


class Group:
    """One row's processes: n `binary get` sharing one env (one HOME, one cache)."""

    def __init__(self, binary, n, env, work, name):
        self.binary, self.n, self.env, self.name = binary, n, env, name
        self.dir = os.path.join(work, "runs-" + name)
        os.makedirs(self.dir)
        self.stdin_file = os.path.join(self.dir, "stdin")
        with open(self.stdin_file, "w") as f:
            f.write(HOST)  # no newline: what docker sends
        self.results = [None] * n
        self.t0 = self.t_last = self.end_last = None
        self.fds = []

    def open_fds(self):
        for i in range(self.n):
            fin = os.open(self.stdin_file, os.O_RDONLY | os.O_CLOEXEC)  # own offset per process
            fout = os.open(os.path.join(self.dir, f"{i}.out"),
                           os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
            ferr = os.open(os.path.join(self.dir, f"{i}.err"),
                           os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self.fds.append((fin, fout, ferr))

    def close_fds(self):
        for trio in self.fds:
            for fd in trio:
                os.close(fd)
        self.fds = []

    @property
    def spread(self):
        """Seconds between the first and the last spawn."""
        return self.t_last - self.t0

    @property
    def all_done(self):
        """Seconds from the first spawn until the last process ended."""
        return self.end_last - self.t0

    def collect(self):
        for i, r in enumerate(self.results):
            with open(os.path.join(self.dir, f"{i}.out"), "rb") as f:
                r.stdout = f.read()
            with open(os.path.join(self.dir, f"{i}.err"), "rb") as f:
                r.stderr = f.read()


def burst(groups, timeout):
    """Spawn every process of every group back to back (os.posix_spawn), then reap them all
    with os.wait4 as they end. A process still running `timeout` seconds after the spawns is
    killed (SIGKILL) and counted as such."""
    for g in groups:  # open everything first, so that the spawns follow each other closely
        g.open_fds()
    argv = ["docker-credential-ecr-login", "get"]
    started = {}
    lock = threading.Lock()
    try:
        for g in groups:
            g.t0 = time.perf_counter()
            for i, (fin, fout, ferr) in enumerate(g.fds):
                acts = [(os.POSIX_SPAWN_DUP2, fin, 0), (os.POSIX_SPAWN_DUP2, fout, 1),
                        (os.POSIX_SPAWN_DUP2, ferr, 2)]
                t = time.perf_counter()
                pid = os.posix_spawn(g.binary, argv, g.env, file_actions=acts)
                started[pid] = (g, i, t)
            g.t_last = g.end_last = time.perf_counter()
    except BaseException:
        for pid in started:
            os.kill(pid, signal.SIGKILL)
        raise
    finally:
        for g in groups:
            g.close_fds()
    killed = set()

    def watchdog():
        with lock:
            for pid in list(started):
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.add(pid)
                except ProcessLookupError:
                    pass

    timer = threading.Timer(timeout, watchdog)
    timer.daemon = True
    timer.start()
    try:
        while started:
            pid, status, _ = os.wait4(-1, 0)
            t = time.perf_counter()
            with lock:
                if pid not in started:
                    continue  # not one of ours (a fake server that died: its own check fails)
                g, i, ts = started.pop(pid)
            r = Result()
            r.wall, r.status, r.killed = t - ts, status, pid in killed
            g.results[i] = r
            g.end_last = max(g.end_last, t)
    finally:
        timer.cancel()
    for g in groups:
        g.collect()


def outcome(results):
    """(number right, short description of what was wrong, the 2 most common first stderr lines)."""
    ok = 0
    wrong = collections.Counter()
    lines = collections.Counter()
    for r in results:
        if r.killed:
            wrong[f"killed at the timeout"] += 1
        elif r.exit_code != 1:
            wrong[f"exit {r.exit_code}"] += 1
        elif NOT_FOUND not in r.stdout:
            wrong[f"stdout {r.stdout[:60]!r}"] += 1
        else:
            ok += 1
        first = r.stderr.decode(errors="replace").strip().splitlines()
        if first:
            lines[first[0]] += 1
    desc = ", ".join(f"{k}: {v}" for k, v in wrong.most_common())
    return ok, desc, lines.most_common(2)


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description="burst of failing cold gets (see the module doc)")
    ap.add_argument("--ours", required=True, help="our release binary")
    ap.add_argument("--go", default="", help="Debian's Go helper ('' = skip)")
    ap.add_argument("--work", default="", help="scratch directory (default: a temp dir, removed)")
    ap.add_argument("--small", type=int, default=20, help="processes in scenarios 1 and 2")
    ap.add_argument("--large", type=int, default=200, help="processes in scenario 3")
    ap.add_argument("--fail-after", type=float, default=2.0, help="scenario 3: seconds before the 500")
    ap.add_argument("--timeout", type=float, default=45.0,
                    help="kill a get still running after this many seconds (counted as wrong)")
    ap.add_argument("--scenarios", default="1,2,3", help="which scenarios to run, e.g. 3 or 1,2")
    ap.add_argument("--go-serial", action="store_true",
                    help="run Go's rows 1 and 2 one after the other (default: at the same time)")
    ap.add_argument("--json", default="", help="also write the results here")
    ap.add_argument("--section", default="6", help="number printed in the heading")
    a = ap.parse_args()
    try:
        want = {int(x) for x in a.scenarios.split(",") if x.strip()}
    except ValueError:
        ap.error(f"bad --scenarios {a.scenarios!r}")
    if not want or not want <= {1, 2, 3}:
        ap.error(f"bad --scenarios {a.scenarios!r}: pick from 1,2,3")

    helpers = [("ours", os.path.abspath(a.ours))]
    if a.go:
        helpers.append(("go", os.path.abspath(a.go)))
    for name, path in helpers:
        if not os.access(path, os.X_OK):
            raise BenchError(f"{name}: {path} is not an executable")

    own_work = not a.work
    work = tempfile.mkdtemp(prefix="ecr-burst.") if own_work else os.path.abspath(a.work)
    os.makedirs(work, exist_ok=True)
    hole = BlackHole()
    base = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    failures = []
    rows = []  # (scenario, helper, dict)
    json_out = {"host": HOST, "cpus": os.cpu_count(), "scenarios": []}

    def home(tag):
        h = os.path.join(work, "home-" + tag)
        os.makedirs(h)
        return h

    def run(*specs):
        """specs: (scenario, who, binary, n, env, fake or None); all of them run at once."""
        groups, befores = [], []
        for scen, who, binary, n, env, fake in specs:
            log(f"scenario {scen}: {n} concurrent gets, {who}")
            groups.append(Group(binary, n, env, work, f"{scen}-{who}"))
            befores.append(len(fake.requests()) if fake else 0)
        burst(groups, a.timeout)
        for (scen, who, binary, n, env, fake), g, before in zip(specs, groups, befores):
            ok, wrong, top = outcome(g.results)
            walls = sorted(r.wall for r in g.results)
            row = {"scenario": scen, "helper": who, "n": n, "spawn_spread_s": g.spread,
                   "all_done_s": g.all_done, "median_s": statistics.median(walls),
                   "max_s": walls[-1], "min_s": walls[0], "ok": ok, "wrong": wrong,
                   "stderr_top": [list(t) for t in top],
                   "concurrent_with": [f"{s[0]}-{s[1]}" for s in specs if s[:2] != (scen, who)]}
            if fake:
                reqs = fake.requests()[before:]
                row["api_calls"] = sum(1 for q in reqs if q.get("method") == "POST"
                                       and q.get("target") == ECR_TARGET)
                row["connects"] = sum(1 for q in reqs if q.get("method") == "CONNECT")
            if ok != n:
                failures.append(f"scenario {scen}, {who}: {n - ok} of {n} runs wrong ({wrong})")
            rows.append(row)
        rows.sort(key=lambda r: (r["scenario"], r["helper"] != "ours"))
        json_out["scenarios"][:] = rows

    fakes = []
    try:
        # ---- 1. no credentials, IMDS black-holed; 2. API black-holed
        # Go's rows 1 and 2 run at the same time (unless --go-serial): each Go run only waits on
        # its SDK's timeouts (~20 s and ~34 s, CPU ~0), so they do not slow each other, and the
        # whole benchmark stays under 2 minutes.
        for who, binary in helpers:
            env1 = dict(base, HOME=home(f"1-{who}"), AWS_EC2_METADATA_SERVICE_ENDPOINT=hole.url)
            env2 = dict(base, **KEYS, HOME=home(f"2-{who}"), AWS_EC2_METADATA_DISABLED="true",
                        AWS_ENDPOINT_URL_ECR=hole.url)
            fake = None
            if who == "go":
                env1.update(HTTPS_PROXY=hole.url, HTTP_PROXY=hole.url)
                if 2 in want:
                    fake = Fake(work, "2-go", ["--connect", "black-hole"])
                    fakes.append(fake)
                    env2.update(HTTPS_PROXY=fake.url, HTTP_PROXY=fake.url)
            specs = [spec for spec in [(1, who, binary, a.small, env1, None),
                                       (2, who, binary, a.small, env2, fake)] if spec[0] in want]
            if who == "ours" or a.go_serial:
                for spec in specs:
                    run(spec)
            elif specs:
                run(*specs)
            if fake:
                fake.stop()

        # ---- 3. API answers 500 ServerException after 2 s
        tls = make_tls(work) if len(helpers) > 1 and 3 in want else None
        for who, binary in helpers if 3 in want else []:
            env = dict(base, **KEYS, HOME=home(f"3-{who}"), AWS_EC2_METADATA_DISABLED="true")
            args = ["--fail-500-after", str(a.fail_after)]
            if who == "go":
                if not tls:
                    log("no usable openssl: scenario 3 is skipped for the Go helper")
                    continue
                args += ["--connect", "tls", "--tls-cert", tls["cert"], "--tls-key", tls["key"]]
            fake = Fake(work, f"3-{who}", args)
            fakes.append(fake)
            if who == "go":
                env.update(HTTPS_PROXY=fake.url, HTTP_PROXY=fake.url, AWS_CA_BUNDLE=tls["ca"],
                           SSL_CERT_FILE=tls["ca"])
            else:
                env.update(AWS_ENDPOINT_URL_ECR=fake.url)
            run((3, who, binary, a.large, env, fake))
            fake.stop()
    finally:
        for f in fakes:
            f.stop()
        hole.close()
        if own_work:
            shutil.rmtree(work, ignore_errors=True)

    # ---------------------------------------------------------------- report
    out = []
    p = out.append
    p(f"{a.section}. Burst of failing cold `get`s (docs/contract.md §10): N processes spawned back "
      f"to back, one fresh shared cache dir per row, stdin = {HOST}; every run must exit 1 with "
      f"the not-found line ({os.cpu_count()} CPUs; informational, no goal asserted):")
    for name, path in helpers:
        p(f"   {name}: {path}")
    titles = {  # keyed by scenario
        1: (f"no credentials, IMDS black-holed, {a.small} gets", "all done <= ~1.5 s"),
        2: (f"API black-holed (keys set), {a.small} gets", "all done <= ~5 s"),
        3: (f"API answers 500 after {a.fail_after:g} s, {a.large} gets", "a handful of API calls"),
    }
    p(f"   {'scenario':46} {'who':5} {'all done':>9} {'median':>8} {'max':>8} {'API calls':>10}"
      f" {'spawn':>8}   outcome")
    for row in rows:
        t, goal = titles[row["scenario"]]
        calls = f"{row['api_calls']:>10}" if "api_calls" in row and row["scenario"] == 3 else f"{'-':>10}"
        res = f"{row['ok']}/{row['n']} ok" + (f" ({row['wrong']})" if row["wrong"] else "")
        p(f"   {row['scenario']}. {t:43} {row['helper']:5} {row['all_done_s']:>7.2f} s "
          f"{row['median_s']:>6.2f} s {row['max_s']:>6.2f} s {calls} "
          f"{row['spawn_spread_s'] * 1000:>5.0f} ms   {res}")
    p("   goals for ours: 1. all done <= ~1.5 s   2. all done <= ~5 s   3. a handful of API calls, "
      "not one per get")
    p("   (\"all done\": first spawn until the last process ended; median/max: each get's own spawn"
      " to exit; ok: exit 1 + `credentials not found in native keychain`)")
    p("   (spawn: first to last spawn of the row.) Go reaches the fakes through HTTPS_PROXY (CONNECT; TLS for row 3), see bench/burst.py")
    together = [r for r in rows if r["concurrent_with"]]
    if together:
        r = together[0]
        p(f"   row {r['scenario']}-{r['helper']} ran at the same time as "
          f"{', '.join(r['concurrent_with'])} (waits bound by the SDK's timeouts, no CPU contention;"
          " --go-serial runs them apart)")
    for row in rows:
        for line, count in row["stderr_top"]:
            line = line if len(line) <= 200 else line[:200] + "..."
            p(f"   stderr {row['scenario']} {row['helper']:4} ({count}/{row['n']}): {line}")
    if failures:
        p("   VERIFICATION FAILURES:")
        for f in failures:
            p("      " + f)
    print("\n".join(out), flush=True)
    if a.json:
        json_out["failures"] = failures
        with open(a.json, "w") as f:
            json.dump(json_out, f, indent=2)
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        log(str(e))
        sys.exit(1)
