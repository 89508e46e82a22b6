#!/usr/bin/env bash
# CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER for `make test-windows` (packaging/windows/test.sh):
# runs a Windows test .exe under Wine. Copies the test-only bcryptprimitives.dll shim next to it
# first (Wine 8 lacks ProcessPrng; docs/windows.md), then execs wine64, whose exit status is the
# .exe's. WINEPREFIX (test.sh sets a temp prefix under target/), WIN_SHIM_DIR (where `make
# windows-setup` built the shim) and WINEDEBUG (default -all) come from the environment.
set -euo pipefail
exe=${1:?usage: wine-run.sh path/to/test.exe [args...]}
shift
here=$(cd "$(dirname "$0")" && pwd)
: "${WIN_SHIM_DIR:=$here/../../target/windows-shim}"
: "${WINEPREFIX:?WINEPREFIX is not set (make test-windows sets a temp prefix under target/)}"
export WINEPREFIX WINEDEBUG=${WINEDEBUG:--all}
shim=$WIN_SHIM_DIR/bcryptprimitives.dll
[ -f "$shim" ] || { echo "wine-run: no $shim (run make windows-setup)" >&2; exit 1; }
dir=$(dirname "$exe")
cmp -s "$shim" "$dir/bcryptprimitives.dll" || cp "$shim" "$dir/bcryptprimitives.dll"
exec /usr/lib/wine/wine64 "$exe" "$@"
