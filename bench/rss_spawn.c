/*
 * rss_spawn: run one program and report its peak RSS, for the benchmark.
 *
 *   rss_spawn PROG [ARG...]
 *
 * PROG inherits this process's environment, stdin, stdout and stderr (fd 3 is closed in it).
 * After it exits, one line goes to fd 3:
 *   "<wait status> <ru_maxrss KiB> <user CPU us> <system CPU us>"
 *
 * Why not measure from Python directly: Linux records the hiwater RSS of the address space a
 * process leaves at execve() into its ru_maxrss. A child that Python starts with posix_spawn
 * (vfork) or fork leaves Python's ~14 MB address space, so its ru_maxrss is never below
 * Python's peak. This launcher is small (built static where possible), so the program it
 * starts inherits at most this launcher's few hundred KiB, below any real program's own peak
 * (the `cat` row of the report shows that floor).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>

extern char **environ;

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: rss_spawn PROG [ARG...]  (report on fd 3)\n");
        return 2;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addclose(&fa, 3);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[1], &fa, NULL, argv + 1, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        dprintf(3, "spawn-error %d %s\n", rc, strerror(rc));
        return 127;
    }
    int status = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    for (;;) {
        pid_t r = wait4(pid, &status, 0, &ru);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR) {
            dprintf(3, "wait-error %d %s\n", errno, strerror(errno));
            return 126;
        }
    }
    long long ut = (long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec;
    long long st = (long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
    dprintf(3, "%d %ld %lld %lld\n", status, ru.ru_maxrss, ut, st);
    return 0;
}
