#!/usr/bin/env bash
# The Windows .exe as a Docker Desktop user runs it, under Wine (docs/windows.md): installed in
# C:\Program Files\ecr-login (on PATH), with a fresh profile C:\users\<user> as %USERPROFILE%, the
# cache in %USERPROFILE%\.ecr, Docker's config in %USERPROFILE%\.docker\config.json (CRLF line
# ends, Docker Desktop's credsStore "desktop"), AWS answered by tests/fake_aws.py on 127.0.0.1.
# Checks: version; a cold `get` (one API call, the token cached under %USERPROFILE%\.ecr); a cache
# hit (no API call); a host ended by CR LF; `list`; stdout without CR; `configure --dry-run` naming the config file as
# Windows shows it and writing nothing; `configure` writing it; the log not holding the secret; a
# cache directory Everyone may write (mode 0777 on the Unix side, which Wine shows as an access
# list entry for Everyone) not trusted.
# Usage (through make): WIN_EXE=... WIN_SHIM_DIR=... packaging/windows/smoke.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${WIN_EXE:?WIN_EXE is not set (run through make)}" "${WIN_SHIM_DIR:?}"
WINE=${WINE:-/usr/lib/wine/wine64}
tmp=$(mktemp -d)
fake_pid=""
export WINEPREFIX=$tmp/prefix WINEDEBUG=-all
cleanup() {
    [ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null || true
    WINEPREFIX=$tmp/prefix wineserver -k 2>/dev/null || /usr/lib/wine/wineserver -k 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
passed=0
ok() {
    passed=$((passed + 1))
    echo "ok - $*"
}
fail() {
    echo "windows smoke: FAIL: $*" >&2
    exit 1
}

# The prefix (its first start takes seconds) and the install.
WINEDLLOVERRIDES="mscoree,mshtml=" "$WINE" wineboot --init </dev/null >/dev/null 2>&1 || fail "wine does not start" # no Mono, no Gecko: nothing to download
user=$("$WINE" cmd /c 'echo %USERNAME%' 2>/dev/null | tr -d '\r')
profile=$WINEPREFIX/drive_c/users/$user
[ -d "$profile" ] || fail "no Wine profile at $profile"
install=$WINEPREFIX/drive_c/Program\ Files/ecr-login
mkdir -p "$install"
cp "$WIN_EXE" "$install/docker-credential-ecr-login.exe"
cp "$WIN_SHIM_DIR/bcryptprimitives.dll" "$install/" # test-only (docs/windows.md); never shipped
export WINEPATH='C:\Program Files\ecr-login'
HOST=123456789012.dkr.ecr.us-west-2.amazonaws.com
PASSWORD=windows-smoke-password

python3 tests/fake_aws.py --port 0 --port-file "$tmp/port" --log "$tmp/fake.log" --password "$PASSWORD" \
    >/dev/null 2>&1 &
fake_pid=$!
for _ in $(seq 100); do
    [ -s "$tmp/port" ] && break
    sleep 0.1
done
[ -s "$tmp/port" ] || fail "fake ECR did not start"
calls() { grep -c GetAuthorizationToken "$tmp/fake.log" 2>/dev/null || true; }

# helper ARGS...: run it as Docker Desktop would (by name, from PATH), stdin from $INPUT.
INPUT=""
helper() {
    printf '%s' "$INPUT" | AWS_ACCESS_KEY_ID=AKIDWINDOWS AWS_SECRET_ACCESS_KEY=windows-smoke-secret \
        AWS_EC2_METADATA_DISABLED=true AWS_ENDPOINT_URL_ECR="http://127.0.0.1:$(cat "$tmp/port")" \
        "$WINE" docker-credential-ecr-login.exe "$@"
}

out=$(helper version) || fail "version: $out"
want=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
case $out in *"$want"*) ok "version: $out" ;; *) fail "version printed: $out" ;; esac

INPUT=$HOST
helper get >"$tmp/get1" 2>"$tmp/err1" || fail "cold get: $(cat "$tmp/err1")"
answer='{"ServerURL":"'$HOST'","Username":"AWS","Secret":"'$PASSWORD'"}'
[ "$(cat "$tmp/get1")" = "$answer" ] || fail "cold get printed: $(cat "$tmp/get1")"
[ "$(calls)" = 1 ] || fail "cold get made $(calls) API calls, want 1"
ls "$profile/.ecr/tokens/"*.json >/dev/null 2>&1 || fail "nothing cached in %USERPROFILE%\\.ecr\\tokens"
ok "cold get: the token, 1 API call, cached in %USERPROFILE%\\.ecr\\tokens"
if LC_ALL=C grep -q $'\r' "$tmp/get1"; then fail "stdout has a CR: $(od -c "$tmp/get1" | head -3)"; fi
ok "stdout is bytes as written (no CR LF translation)"

helper get >"$tmp/get2" 2>"$tmp/err2" || fail "warm get: $(cat "$tmp/err2")"
[ "$(cat "$tmp/get2")" = "$answer" ] || fail "warm get printed: $(cat "$tmp/get2")"
[ "$(calls)" = 1 ] || fail "warm get made an API call ($(calls) in all)"
ok "warm get: served from the cache, no API call"
INPUT=$HOST$'\r\n' # what `echo HOST | ...` sends in cmd.exe
helper get >"$tmp/get2" 2>"$tmp/err2" || fail "get of HOST CR LF: $(cat "$tmp/err2")"
[ "$(cat "$tmp/get2")" = "$answer" ] || fail "get of HOST CR LF printed: $(cat "$tmp/get2")"
ok "a host followed by CR LF on stdin is the same host"

INPUT=""
out=$(helper list) || fail "list: $out"
[ "$out" = '{"https://'$HOST'":"AWS"}' ] || [ "$out" = '{"'$HOST'":"AWS"}' ] || fail "list printed: $out"
ok "list: $out"

# Docker Desktop's config.json: CRLF line ends, its own credsStore.
mkdir -p "$profile/.docker"
printf '{\r\n\t"auths": {},\r\n\t"credsStore": "desktop",\r\n\t"currentContext": "desktop-linux"\r\n}\r\n' \
    >"$profile/.docker/config.json"
cp "$profile/.docker/config.json" "$tmp/config.before"
out=$(helper configure --dry-run "$HOST" 2>&1) || fail "configure --dry-run: $out"
case $out in
*"credHelpers[\"$HOST\"] = \"ecr-login\""*"C:\\users\\$user\\.docker\\config.json not written"*) ;;
*) fail "configure --dry-run printed: $out" ;;
esac
case $out in *"C:\\Program Files\\ecr-login\\docker-credential-ecr-login.exe"*) ;; *) fail "configure --dry-run does not name the .exe Docker runs: $out" ;; esac
cmp -s "$tmp/config.before" "$profile/.docker/config.json" || fail "configure --dry-run changed config.json"
ok "configure --dry-run names C:\\users\\$user\\.docker\\config.json and the .exe, writes nothing"
out=$(helper configure "$HOST" 2>&1) || fail "configure: $out"
python3 - "$profile/.docker/config.json" "$HOST" <<'PY' || fail "configure wrote: $(cat "$profile/.docker/config.json")"
import json, sys
c = json.load(open(sys.argv[1]))
assert c["credHelpers"][sys.argv[2]] == "ecr-login", c
assert c["credsStore"] == "desktop" and c["currentContext"] == "desktop-linux", c
PY
ok "configure: credHelpers entry added, Docker Desktop's settings kept"

log=$(cat "$profile/.ecr/log/"*.log 2>/dev/null) || fail "no log in %USERPROFILE%\\.ecr\\log"
case $log in *"$PASSWORD"* | *windows-smoke-secret*) fail "the log holds a secret" ;; esac
ok "the log is in %USERPROFILE%\\.ecr\\log and holds no secret"

chmod 0777 "$profile/.ecr"
INPUT=$HOST
helper get >"$tmp/get3" 2>"$tmp/err3" || fail "get with an open cache: $(cat "$tmp/err3")"
case $(cat "$tmp/err3") in
*"not using the cache C:\\users\\$user\\.ecr: writable by Everyone"*) ;;
*) fail "a cache directory Everyone may write was used (stderr: $(cat "$tmp/err3"))" ;;
esac
[ "$(calls)" = 2 ] || fail "the untrusted cache answered (API calls: $(calls), want 2)"
ok "a cache directory Everyone may write is not trusted: $(cat "$tmp/err3")"

echo "windows smoke: $passed passed"
