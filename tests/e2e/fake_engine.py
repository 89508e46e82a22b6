#!/usr/bin/env python3
"""A tiny fake Docker Engine on a unix socket, for driving the real docker CLI without a daemon.

It answers /_ping and /version, and for `docker pull` (POST /images/create), `docker push`
(POST /images/NAME/push) and `docker login` (POST /auth) it decodes the credentials the CLI sends
(the X-Registry-Auth header, or the /auth body), logs them as one JSON line to --log, and checks
them against the real registry the way an engine would: an authenticated GET of the manifest
(pull) or of /v2/ (push, login) with the suite's CA. Wrong or missing credentials therefore make
the docker command fail, exactly as with a real engine. Standard library only.
"""
import argparse
import base64
import json
import os
import socketserver
import ssl
import threading
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler

ARGS = None
LOCK = threading.Lock()
API = "1.41"
MANIFEST_TYPES = ",".join([
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])


def b64decode_any(s):
    s = s.strip()
    s += "=" * (-len(s) % 4)
    try:
        return base64.urlsafe_b64decode(s)
    except ValueError:
        return base64.b64decode(s)


def split_image(ref):
    """host[:port]/repo[:tag] -> (host, repo, tag)"""
    host, _, rest = ref.partition("/")
    tag = "latest"
    if ":" in rest.rsplit("/", 1)[-1]:
        rest, tag = rest.rsplit(":", 1)
    return host, rest, tag


def registry_get(host, path, auth, accept=None):
    """GET https://host/path with HTTP Basic from `auth` ({username,password} or None)."""
    ctx = ssl.create_default_context(cafile=ARGS.ca)
    req = urllib.request.Request("https://%s%s" % (host, path))
    if auth and auth.get("username"):
        cred = "%s:%s" % (auth.get("username"), auth.get("password", ""))
        req.add_header("Authorization", "Basic " + base64.b64encode(cred.encode()).decode())
    if accept:
        req.add_header("Accept", accept)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            return r.status, r.headers.get("Docker-Content-Digest", "")
    except urllib.error.HTTPError as e:
        return e.code, ""
    except OSError as e:
        return 599, str(e)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_):
        pass

    def address_string(self):
        return "unix"

    def log(self, **kw):
        kw.setdefault("method", self.command)
        kw.setdefault("path", self.path)
        with LOCK, open(ARGS.log, "a", encoding="utf-8") as f:
            f.write(json.dumps(kw) + "\n")

    def send(self, status, body, ctype="application/json"):
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Api-Version", API)
        self.send_header("Ostype", "linux")
        self.send_header("Docker-Experimental", "false")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def stream(self, lines):
        self.send(200, "".join(json.dumps(x) + "\n" for x in lines))

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def route(self):
        u = urllib.parse.urlsplit(self.path)
        path = u.path
        if path.startswith("/v1."):
            path = "/" + path.split("/", 2)[2]
        return path, dict(urllib.parse.parse_qsl(u.query))

    def header_auth(self):
        raw = self.headers.get("X-Registry-Auth")
        if not raw:
            return None, None
        try:
            return raw, json.loads(b64decode_any(raw) or b"{}")
        except ValueError:
            return raw, {"undecodable": raw}

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        path, _ = self.route()
        if path == "/_ping":
            return self.send(200, "OK", "text/plain")
        if path == "/version":
            return self.send(200, json.dumps({"Version": "28.2.2-e2e-fake", "ApiVersion": API,
                                              "MinAPIVersion": "1.24", "Os": "linux", "Arch": "amd64"}))
        if path == "/info":
            return self.send(200, json.dumps({"IndexServerAddress": "https://index.docker.io/v1/"}))
        self.log(unhandled=True)
        return self.send(404, json.dumps({"message": "e2e fake engine: not implemented: " + path}))

    def do_POST(self):
        body = self.read_body()
        path, q = self.route()
        if path == "/images/create":
            raw, auth = self.header_auth()
            ref = q.get("fromImage", "")
            host, repo, tag = split_image(ref)
            tag = q.get("tag") or tag
            status, digest = registry_get(host, "/v2/%s/manifests/%s" % (repo, tag), auth, MANIFEST_TYPES)
            self.log(action="pull", image=ref, tag=tag, header=raw, auth=auth, registry_status=status)
            if status != 200:
                return self.stream([{"errorDetail": {"message": "registry answered %s" % status},
                                     "error": "Head \"https://%s/v2/%s/manifests/%s\": registry answered %s"
                                     % (host, repo, tag, status)}])
            return self.stream([{"status": "Pulling from %s" % repo, "id": tag},
                                {"status": "Digest: %s" % digest},
                                {"status": "Status: Downloaded newer image for %s:%s" % (ref, tag)}])
        if path.startswith("/images/") and path.endswith("/push"):
            raw, auth = self.header_auth()
            name = urllib.parse.unquote(path[len("/images/"):-len("/push")])
            host = name.split("/", 1)[0]
            status, _ = registry_get(host, "/v2/", auth)
            self.log(action="push", image=name, tag=q.get("tag"), header=raw, auth=auth, registry_status=status)
            if status != 200:
                return self.stream([{"errorDetail": {"message": "unauthorized: registry answered %s" % status},
                                     "error": "unauthorized: registry answered %s" % status}])
            return self.stream([{"status": "The push refers to repository [%s]" % name},
                                {"status": "%s: digest: sha256:%s size: 1" % (q.get("tag"), "0" * 64)}])
        if path == "/auth":
            try:
                auth = json.loads(body or b"{}")
            except ValueError:
                auth = {}
            host = (auth.get("serveraddress") or "").replace("https://", "").split("/", 1)[0]
            status, _ = registry_get(host, "/v2/", auth)
            self.log(action="login", auth=auth, registry_status=status)
            if status != 200:
                return self.send(401, json.dumps({"message": "login attempt to https://%s/v2/ failed with status: %s"
                                                  % (host, status)}))
            return self.send(200, json.dumps({"Status": "Login Succeeded", "IdentityToken": ""}))
        self.log(unhandled=True)
        return self.send(404, json.dumps({"message": "e2e fake engine: not implemented: " + path}))


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--socket", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--ca", required=True, help="CA certificate the registries' TLS chains to")
    ARGS = p.parse_args()
    if os.path.exists(ARGS.socket):
        os.unlink(ARGS.socket)
    Server(ARGS.socket, Handler).serve_forever()


if __name__ == "__main__":
    main()
