#!/usr/bin/env python3
"""A tiny fake of the ECR / ECR Public GetAuthorizationToken API, for the benchmark.

Standard library only. Listens on 127.0.0.1 (a free port unless --port is given), answers

  POST /  X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken
      -> {"authorizationData":[{"authorizationToken": base64("AWS:<password>"),
                                "expiresAt": <now + --expires-in, epoch seconds>,
                                "proxyEndpoint": "https://<account>.dkr.ecr.<region>.amazonaws.com"}]}
  POST /  X-Amz-Target: SpencerFrontendService.GetAuthorizationToken
      -> {"authorizationData":{"authorizationToken": ..., "expiresAt": ...}}

with Content-Type application/x-amz-json-1.1. The region is taken from the SigV4 credential scope
of the Authorization header. Every request of any method (including a proxy CONNECT, which gets
405) is appended as one JSON line to --log, so a caller can count API calls and catch any
client that tries to reach the network through HTTPS_PROXY.
"""

import argparse
import base64
import json
import os
import re
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ECR_TARGET = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken"
PUBLIC_TARGET = "SpencerFrontendService.GetAuthorizationToken"
SCOPE_RE = re.compile(r"Credential=[^/,\s]+/\d{8}/([^/,\s]+)/([^/,\s]+)/aws4_request")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-ecr/1"

    def log_message(self, fmt, *args):  # keep stderr quiet; requests go to --log
        pass

    def _record(self, body):
        cfg = self.server.cfg
        line = {
            "time": time.time(),
            "method": self.command,
            "path": self.path,
            "target": self.headers.get("X-Amz-Target"),
            "user_agent": self.headers.get("User-Agent"),
            "body_len": len(body),
        }
        with cfg["lock"]:
            cfg["count"] += 1
            if cfg["log"]:
                with open(cfg["log"], "a", encoding="utf-8") as f:
                    f.write(json.dumps(line) + "\n")

    def _send(self, code, obj, ctype="application/x-amz-json-1.1"):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", "00000000-0000-0000-0000-000000000000")
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def do_POST(self):
        body = self._body()
        self._record(body)
        cfg = self.server.cfg
        target = self.headers.get("X-Amz-Target", "")
        m = SCOPE_RE.search(self.headers.get("Authorization", ""))
        region = m.group(1) if m else "us-east-1"
        token = base64.b64encode(f"AWS:{cfg['password']}".encode()).decode()
        expires = int(time.time()) + cfg["expires_in"]
        if target == ECR_TARGET:
            self._send(200, {"authorizationData": [{
                "authorizationToken": token,
                "expiresAt": expires,
                "proxyEndpoint": f"https://{cfg['account']}.dkr.ecr.{region}.amazonaws.com",
            }]})
        elif target == PUBLIC_TARGET:
            self._send(200, {"authorizationData": {
                "authorizationToken": token,
                "expiresAt": expires,
            }})
        else:
            self._send(400, {"__type": "UnknownOperationException",
                             "message": f"fake ECR does not serve {target!r}"})

    def _other(self):
        body = self._body() if self.command != "CONNECT" else b""
        self._record(body)
        self._send(405, {"__type": "MethodNotAllowed", "message": f"fake ECR: {self.command}"},
                   ctype="application/json")
        if self.command == "CONNECT":
            self.close_connection = True

    do_GET = do_PUT = do_DELETE = do_HEAD = do_CONNECT = _other


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    ap.add_argument("--port-file", help="write the chosen port here once listening")
    ap.add_argument("--pid-file", help="write this process id here")
    ap.add_argument("--log", help="append one JSON line per request here")
    ap.add_argument("--password", default="bench-password")
    ap.add_argument("--account", default="123456789012")
    ap.add_argument("--expires-in", type=int, default=43200, help="token lifetime, seconds")
    a = ap.parse_args()

    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    srv.cfg = {"password": a.password, "account": a.account, "expires_in": a.expires_in,
               "log": a.log, "count": 0, "lock": threading.Lock()}
    if a.pid_file:
        with open(a.pid_file, "w") as f:
            f.write(f"{os.getpid()}\n")
    port = srv.server_address[1]
    if a.port_file:  # write atomically: readers poll for the file
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.replace(tmp, a.port_file)
    else:
        print(port, flush=True)

    def stop(*_):
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        srv.serve_forever(poll_interval=0.1)
    finally:
        srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
