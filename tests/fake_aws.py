#!/usr/bin/env python3
"""A local fake of the AWS endpoints the helper talks to, shared by the e2e suite (tests/e2e), the
benchmark (bench/) and packaging/check-dist.sh. Standard library only.

One process serves, on one address (127.0.0.1 and a free port unless --host / --port say otherwise):

  POST /  X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken
      -> {"authorizationData":[{"authorizationToken": base64("AWS:<--ecr-password>"),
                                "expiresAt": <now + --expires-in, epoch seconds>,
                                "proxyEndpoint": "https://<--account>.dkr.ecr.<region>.amazonaws.com"}]}
  POST /  X-Amz-Target: SpencerFrontendService.GetAuthorizationToken          (ECR Public)
      -> {"authorizationData":{"authorizationToken": base64("AWS:<--public-password>"), "expiresAt": ...}}
  GET  /creds..., /v2/...            ECS task role / EKS Pod Identity container credentials
                                     (the Authorization header must be --container-token, if given)
  PUT  /latest/api/token, then
  GET  /latest/meta-data/iam/security-credentials/[ROLE]     EC2 IMDSv2 (the session token required)
  GET  /federation/credentials       IAM Identity Center GetRoleCredentials
                                     (x-amz-sso_bearer_token must be --sso-token)
  GET  /ready                        "ok"

JSON answers have Content-Type application/x-amz-json-1.1; the region of an API call is taken
from the SigV4 credential scope of its Authorization header (us-east-1 without one).

Modes:
  --deny                every API call (POST) is answered 400 AccessDeniedException
  --fail-500-after S    every GetAuthorizationToken is held S seconds, then answered HTTP 500
                        {"__type":"ServerException",...} (logged when it arrives)
  --tls                 the listening socket speaks TLS with --tls-cert / --tls-key
  --connect refuse      (default) a proxy CONNECT gets 405
  --connect tls         a proxy CONNECT is answered 200 and the tunnel is served as TLS with
                        --tls-cert / --tls-key (a test CA's certificate for the API host): the way
                        to reach a client that speaks only https to the real AWS names through
                        HTTPS_PROXY (Go 0.6.0); requests inside are logged with "tunneled": true
  --connect black-hole  a proxy CONNECT is answered 200, then nothing more is ever sent (an API
                        that accepts connections and never answers, behind a working proxy)

Every request of any method is appended to --log as one JSON line, when its answer is decided
(before any deliberate delay), with these keys in this order: time, method, path, target, key_id,
region, service (from a SigV4 Authorization header), authorization (any other Authorization
header), user_agent, sso_token, imds_token, status, body (first 500 characters), body_len,
tunneled. Callers count API calls, tell which credentials signed them, and catch any client that
tries to reach the network through HTTPS_PROXY. The port is written to --port-file (atomically)
or, without one, printed on stdout.
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
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ECR_TARGET = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken"
PUBLIC_TARGET = "SpencerFrontendService.GetAuthorizationToken"
AMZ_JSON = "application/x-amz-json-1.1"
IMDS_TOKEN = "e2e-imds-session-token"
# SigV4: Credential=KEY/DATE/REGION/SERVICE/aws4_request
SIGV4_RE = re.compile(r"Credential=([^/,\s]+)/[^/,\s]+/([^/,\s]+)/([^/,\s]+)/")


def iso(ts):
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-aws/1"
    tunneled = False
    # TCP_NODELAY (also under a CONNECT tunnel's TLS, the same socket), and every answer in one
    # write (_send): with Nagle on, a second small write waits for the client's delayed ACK of the
    # first, ~40 ms a request, which the benchmark's cold figures would count as the helper's.
    disable_nagle_algorithm = True

    def log_message(self, *_):  # keep stderr quiet; requests go to --log
        pass

    @property
    def args(self):
        return self.server.args

    def _record(self, body, status):
        auth = self.headers.get("Authorization", "") or ""
        m = SIGV4_RE.search(auth)
        entry = {
            "time": time.time(),
            "method": self.command,
            "path": self.path,
            "target": self.headers.get("X-Amz-Target"),
            "key_id": m.group(1) if m else None,
            "region": m.group(2) if m else None,
            "service": m.group(3) if m else None,
            "authorization": None if m else auth or None,
            "user_agent": self.headers.get("User-Agent"),
            "sso_token": self.headers.get("x-amz-sso_bearer_token"),
            "imds_token": self.headers.get("X-aws-ec2-metadata-token"),
            "status": status,
            "body": body.decode("utf-8", "replace")[:500],
            "body_len": len(body),
            "tunneled": self.tunneled,
        }
        if self.args.log:
            with self.server.lock, open(self.args.log, "a", encoding="utf-8") as f:
                f.write(json.dumps(entry) + "\n")

    def _send(self, status, obj, ctype, headers=()):
        data = obj if isinstance(obj, bytes) else (obj if isinstance(obj, str) else json.dumps(obj)).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", "00000000-0000-0000-0000-000000000000")
        for k, v in headers:
            self.send_header(k, v)
        # end_headers() would write the headers alone; the body joins them in one write instead.
        self._headers_buffer.extend((b"\r\n", data))
        self.flush_headers()

    def reply(self, status, obj, ctype="application/json", body_in=b"", headers=()):
        self._record(body_in, status)
        self._send(status, obj, ctype, headers)

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    # ---- the AWS JSON APIs: ECR and ECR Public
    def do_POST(self):
        a = self.args
        body = self._body()
        target = self.headers.get("X-Amz-Target", "") or ""
        if a.deny:
            return self.reply(400, {"__type": "AccessDeniedException",
                                    "message": "fake AWS: not authorized to perform ecr:GetAuthorizationToken"},
                              AMZ_JSON, body)
        if a.fail_500_after is not None and target in (ECR_TARGET, PUBLIC_TARGET):
            self._record(body, 500)  # counted as it arrives, answered later
            time.sleep(a.fail_500_after)
            return self._send(500, {"__type": "ServerException",
                                    "message": "fake AWS: failing on purpose (--fail-500-after)"},
                              AMZ_JSON)
        m = SIGV4_RE.search(self.headers.get("Authorization", "") or "")
        region = m.group(2) if m else "us-east-1"
        expires = int(time.time()) + a.expires_in
        if target == ECR_TARGET:
            token = base64.b64encode(f"AWS:{a.ecr_password}".encode()).decode()
            return self.reply(200, {"authorizationData": [{
                "authorizationToken": token,
                "expiresAt": expires,
                "proxyEndpoint": f"https://{a.account}.dkr.ecr.{region}.amazonaws.com",
            }]}, AMZ_JSON, body)
        if target == PUBLIC_TARGET:
            token = base64.b64encode(f"AWS:{a.public_password}".encode()).decode()
            return self.reply(200, {"authorizationData": {"authorizationToken": token,
                                                          "expiresAt": expires}}, AMZ_JSON, body)
        return self.reply(400, {"__type": "UnknownOperationException",
                                "message": f"fake AWS does not serve {target!r}"}, AMZ_JSON, body)

    # ---- EC2 instance metadata (IMDSv2: a session token first)
    def do_PUT(self):
        body = self._body()
        if self.path == "/latest/api/token":
            ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
            if not ttl:
                return self.reply(400, "missing ttl", "text/plain", body)
            return self.reply(200, IMDS_TOKEN, "text/plain", body,
                              [("X-aws-ec2-metadata-token-ttl-seconds", ttl)])
        return self.reply(404, "not found", "text/plain", body)

    def do_GET(self):
        a = self.args
        path = self.path.split("?", 1)[0]
        now = int(time.time())
        if path == "/ready":
            return self.reply(200, "ok", "text/plain")
        # EC2 instance metadata (IMDSv2 only: every GET needs the session token).
        if path.startswith("/latest/"):
            if self.headers.get("X-aws-ec2-metadata-token") != IMDS_TOKEN:
                return self.reply(401, "IMDSv2 token required", "text/plain")
            if path == "/latest/meta-data/iam/security-credentials/":
                return self.reply(200, a.imds_role, "text/plain")
            if path == "/latest/meta-data/iam/security-credentials/" + a.imds_role:
                return self.reply(200, {"Code": "Success", "LastUpdated": iso(now), "Type": "AWS-HMAC",
                                        "AccessKeyId": a.imds_key, "SecretAccessKey": "imds-secret",
                                        "Token": "imds-session", "Expiration": iso(now + 6 * 3600)})
            return self.reply(404, "not found", "text/plain")
        # ECS task role / EKS Pod Identity container credentials.
        if path.startswith("/creds") or path.startswith("/v2/"):
            if a.container_token and self.headers.get("Authorization") != a.container_token:
                return self.reply(401, {"message": "bad or missing Authorization"})
            return self.reply(200, {"AccessKeyId": a.container_key, "SecretAccessKey": "container-secret",
                                    "Token": "container-session", "Expiration": iso(now + 6 * 3600),
                                    "RoleArn": f"arn:aws:iam::{a.account}:role/task"})
        # IAM Identity Center portal: GetRoleCredentials.
        if path == "/federation/credentials":
            if self.headers.get("x-amz-sso_bearer_token") != a.sso_token:
                return self.reply(401, {"message": "Session token not found or invalid"},
                                  headers=[("x-amzn-ErrorType", "UnauthorizedException:http://internal.amazon.com/"
                                            "coral/com.amazonaws.switchboard.portal/")])
            return self.reply(200, {"roleCredentials": {
                "accessKeyId": a.sso_key, "secretAccessKey": "sso-secret",
                "sessionToken": "sso-session", "expiration": (now + 6 * 3600) * 1000}})
        return self.reply(404, {"message": "not found: " + path})

    # ---- a proxy CONNECT (see --connect)
    def do_CONNECT(self):
        a = self.args
        if a.connect == "refuse" or self.tunneled:
            return self._other()
        self._record(b"", 200)
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        if a.connect == "black-hole":
            self.close_connection = True
            try:  # read and drop whatever comes (a TLS ClientHello), answer nothing, ever
                while self.connection.recv(65536):
                    pass
            except OSError:
                pass
            return
        try:
            tls = self.server.tunnel_ctx.wrap_socket(self.connection, server_side=True)
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
        if self.tunneled:
            try:
                self.connection.close()
            except OSError:
                pass

    def _other(self):
        body = self._body() if self.command != "CONNECT" else b""
        self.reply(405, {"__type": "MethodNotAllowed", "message": f"fake AWS: {self.command}"},
                   body_in=body)
        if self.command == "CONNECT":
            self.close_connection = True

    do_DELETE = do_HEAD = do_PATCH = _other


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # a burst of hundreds of clients connects at once

    def handle_error(self, request, client_address):
        # a client that gave up (its own timeout) before the answer: expected, not worth a trace
        if isinstance(sys.exc_info()[1], (ConnectionError, ssl.SSLError, TimeoutError)):
            return
        super().handle_error(request, client_address)


def tls_context(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    ap.add_argument("--port-file", help="write the chosen port here once listening (else: stdout)")
    ap.add_argument("--pid-file", help="write this process id here")
    ap.add_argument("--log", help="append one JSON line per request here")
    ap.add_argument("--password", help="the password of both ECR and ECR Public tokens")
    ap.add_argument("--ecr-password", help="the ECR token's password (default: --password, else "
                    "ACCOUNT-auth-token)")
    ap.add_argument("--public-password", help="the ECR Public token's password (default: "
                    "--password, else public-auth-token)")
    ap.add_argument("--account", default="123456789012", help="the account in proxyEndpoint")
    ap.add_argument("--expires-in", type=int, default=43200, help="token lifetime, seconds")
    ap.add_argument("--deny", action="store_true", help="answer every API call AccessDeniedException")
    ap.add_argument("--fail-500-after", type=float, default=None, metavar="SECONDS",
                    help="hold each GetAuthorizationToken this long, then answer 500 ServerException")
    ap.add_argument("--tls", action="store_true", help="serve TLS on the listening socket")
    ap.add_argument("--connect", choices=("refuse", "tls", "black-hole"), default="refuse",
                    help="what a proxy CONNECT gets (see above)")
    ap.add_argument("--tls-cert", help="certificate chain (PEM) for --tls or --connect tls")
    ap.add_argument("--tls-key", help="its private key (PEM)")
    ap.add_argument("--container-token", default="", help="the Authorization the container "
                    "credentials endpoint requires ('' = any)")
    ap.add_argument("--container-key", default="AKIDE2ECONTAINER")
    ap.add_argument("--imds-role", default="e2e-instance-role")
    ap.add_argument("--imds-key", default="AKIDE2EIMDSROLE")
    ap.add_argument("--sso-token", default="e2e-sso-access-token")
    ap.add_argument("--sso-key", default="AKIDE2ESSOROLE")
    a = ap.parse_args(argv)
    if a.ecr_password is None:
        a.ecr_password = a.password if a.password is not None else f"{a.account}-auth-token"
    if a.public_password is None:
        a.public_password = a.password if a.password is not None else "public-auth-token"
    if (a.tls or a.connect == "tls") and not (a.tls_cert and a.tls_key):
        ap.error("--tls and --connect tls need --tls-cert and --tls-key")
    return a


def write_atomically(path, text):
    """Readers poll for the file: it appears whole or not at all."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv=None):
    a = parse_args(argv)
    srv = Server((a.host, a.port), Handler)
    srv.args = a
    srv.lock = threading.Lock()
    srv.tunnel_ctx = tls_context(a.tls_cert, a.tls_key) if a.connect == "tls" else None
    if a.tls:
        srv.socket = tls_context(a.tls_cert, a.tls_key).wrap_socket(srv.socket, server_side=True)
    if a.pid_file:
        write_atomically(a.pid_file, f"{os.getpid()}\n")
    port = srv.server_address[1]
    if a.port_file:
        write_atomically(a.port_file, f"{port}\n")
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
