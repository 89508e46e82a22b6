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

Modes for the burst benchmark (bench/burst.py):
  --fail-500-after S   every GetAuthorizationToken is held S seconds, then answered HTTP 500
                       {"__type":"ServerException",...} (counted in --log as they arrive)
  --connect tls        a proxy CONNECT is answered 200 and the tunnel is served as TLS with
                       --tls-cert/--tls-key (a test CA's certificate for the API host): the way to
                       reach a client that speaks only https to the real AWS names through
                       HTTPS_PROXY (Go 0.6.0); the requests inside are logged with "tunneled": true
  --connect black-hole a proxy CONNECT is answered 200, then nothing more is ever sent (an API
                       that accepts connections and never answers, behind a working proxy)
Default --connect refuse: CONNECT gets 405 as above.
"""

import argparse
import base64
import json
import os
import re
import signal
import socketserver
import ssl
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
            "tunneled": getattr(self, "tunneled", False),
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
        if cfg["fail_after"] is not None and target in (ECR_TARGET, PUBLIC_TARGET):
            time.sleep(cfg["fail_after"])
            self._send(500, {"__type": "ServerException",
                             "message": "fake ECR: failing on purpose (--fail-500-after)"})
            return
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

    def do_CONNECT(self):
        cfg = self.server.cfg
        if cfg["connect"] == "refuse" or getattr(self, "tunneled", False):
            return self._other()
        self._record(b"")
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        if cfg["connect"] == "black-hole":
            self.close_connection = True
            try:  # read and drop whatever comes (a TLS ClientHello), answer nothing, ever
                while self.connection.recv(65536):
                    pass
            except OSError:
                pass
            return
        try:
            tls = cfg["tls_ctx"].wrap_socket(self.connection, server_side=True)
        except (ssl.SSLError, OSError):
            self.close_connection = True
            return
        # go on serving HTTP/1.1 requests, now inside the tunnel
        self.connection = self.request = tls
        self.rfile = tls.makefile("rb", self.rbufsize)
        self.wfile = socketserver._SocketWriter(tls)
        self.tunneled = True
        self.close_connection = False

    def finish(self):
        super().finish()
        if getattr(self, "tunneled", False):
            try:
                self.connection.close()
            except OSError:
                pass

    def _other(self):
        body = self._body() if self.command != "CONNECT" else b""
        self._record(body)
        self._send(405, {"__type": "MethodNotAllowed", "message": f"fake ECR: {self.command}"},
                   ctype="application/json")
        if self.command == "CONNECT":
            self.close_connection = True

    do_GET = do_PUT = do_DELETE = do_HEAD = _other


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # a burst of hundreds of clients connects at once

    def handle_error(self, request, client_address):
        # a client that gave up (its own timeout) before the answer: expected, not worth a trace
        if isinstance(sys.exc_info()[1], (ConnectionError, ssl.SSLError, TimeoutError)):
            return
        super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    ap.add_argument("--port-file", help="write the chosen port here once listening")
    ap.add_argument("--pid-file", help="write this process id here")
    ap.add_argument("--log", help="append one JSON line per request here")
    ap.add_argument("--password", default="bench-password")
    ap.add_argument("--account", default="123456789012")
    ap.add_argument("--expires-in", type=int, default=43200, help="token lifetime, seconds")
    ap.add_argument("--fail-500-after", type=float, default=None, metavar="SECONDS",
                    help="hold each GetAuthorizationToken this long, then answer 500 ServerException")
    ap.add_argument("--connect", choices=("refuse", "tls", "black-hole"), default="refuse",
                    help="what a proxy CONNECT gets (see above)")
    ap.add_argument("--tls-cert", help="certificate chain (PEM) served in a --connect tls tunnel")
    ap.add_argument("--tls-key", help="its private key (PEM)")
    a = ap.parse_args()
    tls_ctx = None
    if a.connect == "tls":
        if not (a.tls_cert and a.tls_key):
            ap.error("--connect tls needs --tls-cert and --tls-key")
        tls_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls_ctx.load_cert_chain(a.tls_cert, a.tls_key)

    srv = Server(("127.0.0.1", a.port), Handler)
    srv.cfg = {"password": a.password, "account": a.account, "expires_in": a.expires_in,
               "log": a.log, "count": 0, "lock": threading.Lock(),
               "fail_after": a.fail_500_after, "connect": a.connect, "tls_ctx": tls_ctx}
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
