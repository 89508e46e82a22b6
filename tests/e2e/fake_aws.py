#!/usr/bin/env python3
"""A small local stand-in for the AWS endpoints moto does not cover, for the e2e suite.

One process serves, on one address:
  - ECR `GetAuthorizationToken` (X-Amz-Target AmazonEC2ContainerRegistry_V20150921.*) and
    ECR Public `GetAuthorizationToken` (SpencerFrontendService.*), with a future expiresAt;
  - the ECS / EKS Pod Identity container credentials endpoint (GET any path under /creds or /v2/),
    checking the Authorization header when --container-token is given;
  - EC2 IMDSv2 (PUT /latest/api/token, then GET .../iam/security-credentials/[ROLE] with the token);
  - the IAM Identity Center portal's GetRoleCredentials (GET /federation/credentials) checking
    x-amz-sso_bearer_token.
Optionally over TLS. Every request is appended to --log as one JSON line (method, path, target,
the access key id of a SigV4 Authorization header, a few headers), so the suite can assert which
source and which credentials were used. Standard library only.
"""
import argparse
import base64
import json
import re
import ssl
import sys
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARGS = None
LOCK = threading.Lock()
IMDS_TOKEN = "e2e-imds-session-token"


def iso(ts):
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "e2e-fake-aws"

    def log_message(self, *_):
        pass

    def record(self, body, status):
        auth = self.headers.get("Authorization", "") or ""
        m = re.search(r"Credential=([^/]+)/[^/]+/([^/]+)/([^/]+)/", auth)
        entry = {
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
        }
        with LOCK, open(ARGS.log, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")

    def reply(self, status, obj, ctype="application/json", body_in=b"", headers=()):
        data = obj if isinstance(obj, bytes) else (obj if isinstance(obj, str) else json.dumps(obj)).encode()
        self.record(body_in, status)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    # ---- AWS JSON APIs ----
    def do_POST(self):
        body = self.read_body()
        target = self.headers.get("X-Amz-Target", "")
        ctype = "application/x-amz-json-1.1"
        if ARGS.deny:
            return self.reply(400, {"__type": "AccessDeniedException",
                                    "message": "e2e fake: not authorized to perform ecr:GetAuthorizationToken"},
                              ctype, body)
        now = int(time.time())
        if target.startswith("AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken"):
            tok = base64.b64encode(("AWS:" + ARGS.ecr_password).encode()).decode()
            return self.reply(200, {"authorizationData": [{
                "authorizationToken": tok, "expiresAt": now + 12 * 3600,
                "proxyEndpoint": "https://123456789012.dkr.ecr.us-east-1.amazonaws.com"}]}, ctype, body)
        if target.startswith("SpencerFrontendService.GetAuthorizationToken"):
            tok = base64.b64encode(("AWS:" + ARGS.public_password).encode()).decode()
            return self.reply(200, {"authorizationData": {"authorizationToken": tok,
                                                          "expiresAt": now + 12 * 3600}}, ctype, body)
        return self.reply(400, {"__type": "UnknownOperationException", "message": target}, ctype, body)

    def do_PUT(self):
        body = self.read_body()
        if self.path == "/latest/api/token":
            if not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                return self.reply(400, "missing ttl", "text/plain", body)
            ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
            return self.reply(200, IMDS_TOKEN, "text/plain", body,
                              [("X-aws-ec2-metadata-token-ttl-seconds", ttl)])
        return self.reply(404, "not found", "text/plain", body)

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        now = int(time.time())
        if path == "/ready":
            return self.reply(200, "ok", "text/plain")
        # EC2 instance metadata (IMDSv2 only: every GET needs the session token).
        if path.startswith("/latest/"):
            if self.headers.get("X-aws-ec2-metadata-token") != IMDS_TOKEN:
                return self.reply(401, "IMDSv2 token required", "text/plain")
            if path == "/latest/meta-data/iam/security-credentials/":
                return self.reply(200, ARGS.imds_role, "text/plain")
            if path == "/latest/meta-data/iam/security-credentials/" + ARGS.imds_role:
                return self.reply(200, {"Code": "Success", "LastUpdated": iso(now), "Type": "AWS-HMAC",
                                        "AccessKeyId": ARGS.imds_key, "SecretAccessKey": "imds-secret",
                                        "Token": "imds-session", "Expiration": iso(now + 6 * 3600)})
            return self.reply(404, "not found", "text/plain")
        # ECS task role / EKS Pod Identity container credentials.
        if path.startswith("/creds") or path.startswith("/v2/"):
            if ARGS.container_token and self.headers.get("Authorization") != ARGS.container_token:
                return self.reply(401, {"message": "bad or missing Authorization"})
            return self.reply(200, {"AccessKeyId": ARGS.container_key, "SecretAccessKey": "container-secret",
                                    "Token": "container-session", "Expiration": iso(now + 6 * 3600),
                                    "RoleArn": "arn:aws:iam::123456789012:role/task"})
        # IAM Identity Center portal: GetRoleCredentials.
        if path == "/federation/credentials":
            if self.headers.get("x-amz-sso_bearer_token") != ARGS.sso_token:
                return self.reply(401, {"message": "Session token not found or invalid"}, body_in=b"",
                                  headers=[("x-amzn-ErrorType", "UnauthorizedException:http://internal.amazon.com/"
                                            "coral/com.amazonaws.switchboard.portal/")])
            return self.reply(200, {"roleCredentials": {
                "accessKeyId": ARGS.sso_key, "secretAccessKey": "sso-secret",
                "sessionToken": "sso-session", "expiration": (now + 6 * 3600) * 1000}})
        return self.reply(404, {"message": "not found: " + path})


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--log", required=True)
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--deny", action="store_true", help="answer every API call AccessDeniedException")
    p.add_argument("--ecr-password", default="123456789012-auth-token")
    p.add_argument("--public-password", default="public-auth-token")
    p.add_argument("--container-token", default="")
    p.add_argument("--container-key", default="AKIDE2ECONTAINER")
    p.add_argument("--imds-role", default="e2e-instance-role")
    p.add_argument("--imds-key", default="AKIDE2EIMDSROLE")
    p.add_argument("--sso-token", default="e2e-sso-access-token")
    p.add_argument("--sso-key", default="AKIDE2ESSOROLE")
    ARGS = p.parse_args()
    srv = ThreadingHTTPServer((ARGS.host, ARGS.port), Handler)
    srv.daemon_threads = True
    if ARGS.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(ARGS.tls_cert, ARGS.tls_key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    if ARGS.port_file:
        with open(ARGS.port_file + ".tmp", "w", encoding="utf-8") as f:
            f.write(str(srv.server_address[1]))
        import os
        os.replace(ARGS.port_file + ".tmp", ARGS.port_file)
    sys.stdout.flush()
    srv.serve_forever()


if __name__ == "__main__":
    main()
