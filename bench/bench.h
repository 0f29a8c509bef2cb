/* Shared helpers for umk's micro-benchmarks.
 *
 * Every benchmark prints exactly one line on stdout:
 *     NAME ITERATIONS NS_PER_OP
 * measured with clock_gettime(CLOCK_MONOTONIC) after a warm-up of about a
 * tenth of the iterations.  ITERATIONS = base count * UMK_BENCH_SCALE
 * (a float, default 1; the base counts take roughly 0.3 s each natively).
 * Errors go to stderr with exit status 1.
 */
#ifndef UMK_BENCH_H
#define UMK_BENCH_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* base * UMK_BENCH_SCALE, at least 1. */
static inline long bench_iters(long base)
{
    const char *s = getenv("UMK_BENCH_SCALE");
    double f = s && *s ? strtod(s, NULL) : 1.0;
    if (!(f > 0)) f = 1.0;
    long n = (long)(base * f);
    return n < 1 ? 1 : n;
}

static inline long bench_warmup(long iters)
{
    long w = iters / 10;
    return w < 1 ? 1 : w;
}

static inline void bench_report(const char *name, long iters, uint64_t total_ns)
{
    printf("%s %ld %.1f\n", name, iters, (double)total_ns / (double)iters);
    fflush(stdout);
}

__attribute__((noreturn, format(printf, 1, 2)))
static inline void bench_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (%s)\n", strerror(errno));
    exit(1);
}

/* Standard shape: warm-up then timed loop of body(i). */
#define BENCH_LOOP(name, base, body) do {                              \
        long n_ = bench_iters(base), w_ = bench_warmup(n_);            \
        for (long i = 0; i < w_; i++) { body; }                        \
        uint64_t t0_ = now_ns();                                       \
        for (long i = 0; i < n_; i++) { body; }                        \
        bench_report((name), n_, now_ns() - t0_);                      \
    } while (0)

#endif
