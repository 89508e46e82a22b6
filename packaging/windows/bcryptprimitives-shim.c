/* Test-only stand-in for Windows' bcryptprimitives.dll, for running our .exe under Wine 8.
 *
 * Rust's standard library gets random bytes (HashMap seeds) from ProcessPrng in
 * bcryptprimitives.dll, which every Windows 10 and 11 has; Debian's Wine 8 does not, so every
 * Rust .exe fails to start there (exit 53). This DLL, placed next to the .exe under test, exports
 * ProcessPrng over SystemFunction036 (RtlGenRandom, advapi32), which Wine has.
 * It is NEVER shipped: real Windows has the real DLL. See docs/windows.md.
 * Build: x86_64-w64-mingw32-gcc -shared -o bcryptprimitives.dll bcryptprimitives-shim.c -ladvapi32
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
