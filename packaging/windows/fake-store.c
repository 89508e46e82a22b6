/* Test-only: the fake Docker credential store of tests/it/fallback.rs for the Windows .exe under
 * Wine (make test-windows), as `docker-credential-fake.exe`: the same as that file's shell script.
 * For ACTION (argv[1]) it saves its stdin as %FAKE_DIR%\in.ACTION, appends ACTION to
 * %FAKE_DIR%\calls, writes `fake-stderr:ACTION` on stderr, prints %FAKE_DIR%\out.ACTION and exits
 * with the number in %FAKE_DIR%\code.ACTION (default 0). Bytes pass unchanged (binary mode).
 * Built by packaging/windows/setup.sh with mingw; never shipped. */
#include <fcntl.h>
#include <io.h>
#include <stdio.h>
#include <stdlib.h>

static void path_of(char *buf, size_t len, const char *dir, const char *name, const char *action)
{
    snprintf(buf, len, "%s\\%s%s", dir, name, action);
}

static void copy(FILE *from, FILE *to)
{
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, from)) > 0)
        fwrite(buf, 1, n, to);
}

int main(int argc, char **argv)
{
    const char *dir = getenv("FAKE_DIR");
    const char *action = argc > 1 ? argv[1] : "";
    char path[4096];
    FILE *f;
    int code = 0;

    if (!dir)
        return 99;
    _setmode(_fileno(stdin), _O_BINARY);
    _setmode(_fileno(stdout), _O_BINARY);
    _setmode(_fileno(stderr), _O_BINARY);

    path_of(path, sizeof path, dir, "in.", action);
    if ((f = fopen(path, "wb"))) {
        copy(stdin, f);
        fclose(f);
    }
    path_of(path, sizeof path, dir, "calls", "");
    if ((f = fopen(path, "ab"))) {
        fprintf(f, "%s\n", action);
        fclose(f);
    }
    fprintf(stderr, "fake-stderr:%s\n", action);
    path_of(path, sizeof path, dir, "out.", action);
    if ((f = fopen(path, "rb"))) {
        copy(f, stdout);
        fclose(f);
    }
    fflush(stdout);
    path_of(path, sizeof path, dir, "code.", action);
    if ((f = fopen(path, "rb"))) {
        if (fscanf(f, "%d", &code) != 1)
            code = 0;
        fclose(f);
    }
    return code;
}
