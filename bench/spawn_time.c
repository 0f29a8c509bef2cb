/* spawn_time: wall time of a whole command, fork to waitpid.  A HOST
 * helper of scripts/bench.sh for "boot to exit of /bin/true":
 *
 *   spawn_time NAME RUNS CMD [ARGS...]
 *
 * runs CMD once as a warm-up, then RUNS times, timing each with
 * clock_gettime(CLOCK_MONOTONIC) around fork + execvp + waitpid, and prints
 * "NAME RUNS MEDIAN_NS" (the same line format as the guest benchmarks).
 * CMD's stdout goes to /dev/null; a non-zero exit status is an error
 * (exit 1).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t once(char **cmd)
{
    uint64_t t0 = now_ns();
    pid_t p = fork();
    if (p < 0) { perror("spawn_time: fork"); exit(1); }
    if (p == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) dup2(fd, 1);
        execvp(cmd[0], cmd);
        fprintf(stderr, "spawn_time: %s: %s\n", cmd[0], strerror(errno));
        _exit(127);
    }
    int st;
    if (waitpid(p, &st, 0) != p) { perror("spawn_time: waitpid"); exit(1); }
    uint64_t t = now_ns() - t0;
    if (st != 0) { fprintf(stderr, "spawn_time: %s: status 0x%x\n", cmd[0], st); exit(1); }
    return t;
}

int main(int argc, char **argv)
{
    if (argc < 4) { fprintf(stderr, "usage: spawn_time NAME RUNS CMD [ARGS...]\n"); return 2; }
    long n = strtol(argv[2], NULL, 10);
    if (n < 1) n = 1;
    uint64_t *t = calloc((size_t)n, sizeof *t);
    if (!t) return 1;
    once(argv + 3);
    for (long i = 0; i < n; i++) t[i] = once(argv + 3);
    qsort(t, (size_t)n, sizeof *t, cmp);
    uint64_t med = n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
    printf("%s %ld %llu\n", argv[1], n, (unsigned long long)med);
    return 0;
}
