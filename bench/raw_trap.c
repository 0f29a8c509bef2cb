/* raw_trap: the bare cost of one trapped system call on this machine, the
 * floor under any ptrace-based design (umk's trapped getpid is compared
 * with it).  A HOST program, not a guest one: it forks a child that calls
 * getpid in a loop and traces it with a null handler, in four ways:
 *
 *   native          getpid, untraced (for reference)
 *   sysemu          PTRACE_SYSEMU; the tracer resumes each stop at once
 *   sysemu_regs     the same + PTRACE_GETREGS/SETREGS (a result written
 *                   back: the least an emulating tracer does)
 *   seccomp_cont    seccomp RET_TRACE for getpid + PTRACE_CONT (the host
 *                   kernel then runs getpid)
 *   seccomp_regs    RET_TRACE + GETREGS, skip the call (orig_rax = -1,
 *                   rax = result), SETREGS, PTRACE_CONT: umk's shape
 *
 * Prints "raw_trap_MODE ITERATIONS NS_PER_ROUND_TRIP" per mode, the same
 * line format as the guest benchmarks.  Timed in the tracer from the stop
 * ending the warm-up to the stop ending the last timed call.
 *
 *   raw_trap [MODE...]        (default: all)
 * UMK_BENCH_SCALE scales the iteration counts like the guest benchmarks.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef PTRACE_SYSEMU
#define PTRACE_SYSEMU 31
#endif
#ifndef PTRACE_O_TRACESECCOMP
#define PTRACE_O_TRACESECCOMP 0x80
#endif
#ifndef PTRACE_EVENT_SECCOMP
#define PTRACE_EVENT_SECCOMP 7
#endif
#ifndef PTRACE_O_EXITKILL
#define PTRACE_O_EXITKILL (1 << 20)
#endif

enum mode { NATIVE, SYSEMU, SYSEMU_REGS, SECCOMP_CONT, SECCOMP_REGS };
static const char *const names[] = { "native", "sysemu", "sysemu_regs", "seccomp_cont", "seccomp_regs" };

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static long iters(long base)
{
    const char *s = getenv("UMK_BENCH_SCALE");
    double f = s && *s ? strtod(s, NULL) : 1.0;
    if (!(f > 0)) f = 1.0;
    long n = (long)(base * f);
    return n < 1 ? 1 : n;
}

static void die(const char *what)
{
    fprintf(stderr, "raw_trap: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* The traced child: stop, then getpid forever (the tracer kills it). */
static void child(enum mode m)
{
    pid_t self = getpid();      /* before the filter: it traps getpid */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (m == SECCOMP_CONT || m == SECCOMP_REGS) {
        struct sock_filter f[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getpid, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = { .len = sizeof f / sizeof f[0], .filter = f };
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
            _exit(3);
    }
    if (ptrace(PTRACE_TRACEME, 0, 0, 0)) _exit(4);
    kill(self, SIGSTOP);        /* not raise(): glibc's calls getpid */
    for (;;) syscall(SYS_getpid);
}

/* Waits for the child's next stop; returns the wait status. */
static int wait_stop(pid_t p)
{
    int st;
    if (waitpid(p, &st, __WALL) != p) die("waitpid");
    if (!WIFSTOPPED(st)) { fprintf(stderr, "raw_trap: child ended (status 0x%x)\n", st); exit(1); }
    return st;
}

static double run_traced(enum mode m, long n)
{
    pid_t p = fork();
    if (p < 0) die("fork");
    if (p == 0) child(m);
    wait_stop(p);                                   /* the SIGSTOP */
    long opts = PTRACE_O_EXITKILL;
    if (m == SECCOMP_CONT || m == SECCOMP_REGS) opts |= PTRACE_O_TRACESECCOMP;
    if (ptrace(PTRACE_SETOPTIONS, p, 0, opts)) die("PTRACE_SETOPTIONS");
    int resume = (m == SYSEMU || m == SYSEMU_REGS) ? PTRACE_SYSEMU : PTRACE_CONT;
    long w = n / 10 < 1 ? 1 : n / 10;
    uint64_t t0 = 0;
    struct user_regs_struct r;
    for (long i = 0; i <= w + n; i++) {
        if (ptrace(resume, p, 0, 0)) die("resume");
        int st = wait_stop(p);
        if (m == SECCOMP_CONT || m == SECCOMP_REGS) {
            if ((st >> 8) != (SIGTRAP | (PTRACE_EVENT_SECCOMP << 8))) {
                fprintf(stderr, "raw_trap: unexpected stop 0x%x\n", st);
                exit(1);
            }
        } else if (WSTOPSIG(st) != SIGTRAP) {
            fprintf(stderr, "raw_trap: unexpected stop 0x%x\n", st);
            exit(1);
        }
        if (m == SYSEMU_REGS || m == SECCOMP_REGS) {
            if (ptrace(PTRACE_GETREGS, p, 0, &r)) die("PTRACE_GETREGS");
            if (r.orig_rax != SYS_getpid) { fprintf(stderr, "raw_trap: syscall %llu\n", r.orig_rax); exit(1); }
            r.rax = 42;
            if (m == SECCOMP_REGS) r.orig_rax = (unsigned long long)-1;   /* skip it */
            if (ptrace(PTRACE_SETREGS, p, 0, &r)) die("PTRACE_SETREGS");
        }
        if (i == w) t0 = now_ns();
    }
    uint64_t t = now_ns() - t0;
    kill(p, SIGKILL);
    int st;
    waitpid(p, &st, __WALL);
    return (double)t / (double)n;
}

static double run_native(long n)
{
    volatile long sink = 0;
    for (long i = 0; i < n / 10; i++) sink += syscall(SYS_getpid);
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++) sink += syscall(SYS_getpid);
    return (double)(now_ns() - t0) / (double)n;
}

int main(int argc, char **argv)
{
    int want[5] = { 0 }, any = 0;
    for (int i = 1; i < argc; i++) {
        int found = 0;
        for (int m = 0; m < 5; m++)
            if (!strcmp(argv[i], names[m])) { want[m] = 1; found = any = 1; }
        if (!found) {
            fprintf(stderr, "usage: raw_trap [native|sysemu|sysemu_regs|seccomp_cont|seccomp_regs]...\n");
            return 2;
        }
    }
    for (int m = 0; m < 5; m++) {
        if (any && !want[m]) continue;
        long n = m == NATIVE ? iters(3000000) : iters(100000);
        double ns = m == NATIVE ? run_native(n) : run_traced((enum mode)m, n);
        printf("raw_trap_%s %ld %.1f\n", names[m], n, ns);
        fflush(stdout);
    }
    return 0;
}
