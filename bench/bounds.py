"""How long a failing `get` takes (docs/contract.md §10, bounded time): no credentials with a
black-holed metadata service, the API on a closed port, and a black-holed API. Informational
figures for the closing notes; the tests assert the outcomes, never the timings."""
import os, socket, statistics, subprocess, sys, tempfile, time

HOST = b"123456789012.dkr.ecr.us-west-2.amazonaws.com"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def timed(binary, env, runs=3):
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as home:
            e = {"HOME": home, "PATH": "/usr/bin:/bin", **env}
            t = time.perf_counter()
            out = subprocess.run([binary, "get"], input=HOST, env=e, capture_output=True, timeout=60)
            times.append(time.perf_counter() - t)
            assert out.returncode == 1 and out.stderr, (out, env)
    return statistics.median(times), out.stderr.decode().strip()


def main():
    binary = sys.argv[1]
    hole = socket.socket()  # accepts connections (kernel backlog), never answers
    hole.bind(("127.0.0.1", 0))
    hole.listen(128)
    hole_url = "http://127.0.0.1:%d" % hole.getsockname()[1]
    keys = {"AWS_ACCESS_KEY_ID": "AKIDBENCH", "AWS_SECRET_ACCESS_KEY": "bench-secret",
            "AWS_EC2_METADATA_DISABLED": "true"}
    cases = [
        ("no credentials, black-holed IMDS", {"AWS_EC2_METADATA_SERVICE_ENDPOINT": hole_url}, "about 1 s"),
        ("API on a closed port", {**keys, "AWS_ENDPOINT_URL_ECR": "http://127.0.0.1:%d" % free_port()}, "a few s"),
        ("black-holed API", {**keys, "AWS_ENDPOINT_URL_ECR": hole_url}, "within 5 s"),
    ]
    print("5. Failing `get` wall time (median of 3; docs/contract.md §10: never hang a docker "
          "command):")
    for name, env, goal in cases:
        secs, line = timed(binary, env)
        print("   %-34s %6.2f s   (goal: %s)" % (name, secs, goal))
        print("      stderr: %s" % (line[:150] + ("..." if len(line) > 150 else "")))
    # `list` with AWS_REGION asks for the caller's registry: bounded, and never a failure.
    times = []
    for _ in range(3):
        with tempfile.TemporaryDirectory() as home:
            e = {"HOME": home, **keys, "AWS_REGION": "eu-central-1", "AWS_ENDPOINT_URL_ECR": hole_url}
            t = time.perf_counter()
            out = subprocess.run([binary, "list"], input=b"unused", env=e, capture_output=True, timeout=60)
            times.append(time.perf_counter() - t)
            assert out.returncode == 0 and out.stdout == b"{}\n", out
    print("   %-34s %6.2f s   (goal: about 2 s, exit 0, {})" % ("list, black-holed API", statistics.median(times)))


if __name__ == "__main__":
    main()
