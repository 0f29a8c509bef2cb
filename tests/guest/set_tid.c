/* clone3's set_tid, run inside umk by tests/boot.rs. Not a differential
 * program: natively, choosing a pid takes CAP_SYS_ADMIN over the pid
 * namespace and which pids are free depends on the host; inside umk the
 * guest's root has every capability and the VM is one pid namespace.
 *
 *   set_tid      prints one fact per line, as root and then as nobody
 */
#include "common.h"
#include <sched.h>
#include <sys/syscall.h>

struct clone_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls,
        set_tid, set_tid_size, cgroup;
};

/* Children that must stay alive read this pipe until main closes it. */
static int hold[2];

/* A fork-like clone3 asking for the pids in `want`; the child exits 3,
 * after `hold` is closed if `wait`. Returns what clone3 returned. */
static long spawn(pid_t *want, int n, int wait)
{
    struct clone_args ca;
    memset(&ca, 0, sizeof ca);
    ca.exit_signal = SIGCHLD;
    ca.set_tid = (uintptr_t)want;
    ca.set_tid_size = (uint64_t)n;
    fflush(stdout);
    long r = syscall(SYS_clone3, &ca, sizeof ca);
    if (r == 0) {
        char c;
        if (want[0] != getpid()) printf("  child got pid %d, not the one asked\n", getpid());
        fflush(stdout);
        close(hold[1]);
        while (wait && read(hold[0], &c, 1) > 0) {}
        _exit(3);
    }
    return r;
}

static void try_pids(const char *label, pid_t *want, int n)
{
    errno = 0;
    long r = spawn(want, n, 0);
    int e = errno;
    if (r > 0) {
        int st;
        waitpid((pid_t)r, &st, 0);
        printf("%s: %s (%s)\n", label, r == want[0] ? "the pid asked" : "another pid", wstatus_str(st));
    } else {
        printf("%s: %s\n", label, errname(e));
    }
}

/* The thread starts on its own stack with nothing of libc: it stores its
 * tid where r12 points and ends itself. */
static long clone3_thread(struct clone_args *ca, volatile int *out)
{
    long ret;
    register volatile int *r12 __asm__("r12") = out;
    __asm__ volatile("syscall\n\t"
                     "test %%rax, %%rax\n\t"
                     "jnz 1f\n\t"
                     "mov $186, %%eax\n\t" /* gettid */
                     "syscall\n\t"
                     "mov %%eax, (%%r12)\n\t"
                     "mov $60, %%eax\n\t" /* exit */
                     "xor %%edi, %%edi\n\t"
                     "syscall\n\t"
                     "1:\n\t"
                     : "=a"(ret)
                     : "a"((long)SYS_clone3), "D"(ca), "S"(sizeof *ca), "r"(r12)
                     : "rcx", "r11", "memory");
    return ret;
}

static char thread_stack[65536] __attribute__((aligned(16)));

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    pipe(hold);

    /* A chosen pid, held by a live child. */
    pid_t want = 12345;
    long r = spawn(&want, 1, 1);
    printf("clone3 set_tid 12345: %s\n", r == 12345 ? "the pid asked" : errname(errno));
    VAL("  again while that child lives", spawn(&want, 1, 1));
    pid_t me = getpid(), init = 1;
    VAL("  the caller's own pid", spawn(&me, 1, 1));
    VAL("  pid 1", spawn(&init, 1, 1));

    /* The allocator hands out neither a chosen pid nor one in use. */
    fflush(stdout);
    pid_t a = fork();
    if (a == 0) _exit(0);
    waitpid(a, NULL, 0);
    pid_t next = a + 1;
    long b = spawn(&next, 1, 1);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) _exit(0);
    waitpid(c, NULL, 0);
    printf("set_tid the next pid: %s; the next fork skips it: %s\n",
           b == next ? "the pid asked" : errname(errno), c == next + 1 ? "yes" : "no");

    /* Bad requests. */
    pid_t two[2] = { 23456, 23457 };
    try_pids("set_tid_size 2 (one pid namespace)", two, 2);
    pid_t bad[] = { 0, -1, 4194304, INT_MIN };
    const char *bad_labels[] = { "pid 0", "pid -1", "pid 4194304 (pid_max)", "pid INT_MIN" };
    for (int i = 0; i < 4; i++) try_pids(bad_labels[i], &bad[i], 1);
    pid_t top = 4194303;
    try_pids("pid 4194303", &top, 1);

    /* A reaped child's pid is free again. */
    close(hold[1]);
    int st;
    waitpid(12345, &st, 0);
    pid_t again = 12345;
    try_pids("12345 once its child is reaped", &again, 1);
    waitpid(b, &st, 0);

    /* A process group outlives its leader: its id stays taken. */
    int p2[2];
    pipe(p2);
    fflush(stdout);
    pid_t leader = fork();
    if (leader == 0) {
        setpgid(0, 0);
        if (fork() == 0) {
            char ch;
            close(p2[1]);
            while (read(p2[0], &ch, 1) > 0) {}
            _exit(0);
        }
        _exit(0);
    }
    waitpid(leader, &st, 0);
    pid_t grp = leader;
    try_pids("the id of a group whose leader is reaped", &grp, 1);
    close(p2[1]);
    close(p2[0]);
    /* (The group's other member comes to us, pid 1, when it ends.) */
    while (wait(NULL) > 0) {}

    /* CLONE_THREAD: set_tid is the new thread's tid. */
    {
        struct clone_args ca;
        static volatile int seen, ctid = 1;
        pid_t t = 7777;
        memset(&ca, 0, sizeof ca);
        ca.flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
                   CLONE_SYSVSEM | CLONE_CHILD_CLEARTID;
        ca.child_tid = (uintptr_t)&ctid;
        ca.stack = (uintptr_t)thread_stack;
        ca.stack_size = sizeof thread_stack;
        ca.set_tid = (uintptr_t)&t;
        ca.set_tid_size = 1;
        long tr = clone3_thread(&ca, &seen);
        for (int i = 0; i < 100000 && ctid != 0; i++) sched_yield();
        printf("thread with set_tid 7777: returned %ld, its gettid %d\n", tr, seen);
    }

    /* Unreadable array: EFAULT, before anything else. */
    {
        struct clone_args ca;
        memset(&ca, 0, sizeof ca);
        ca.exit_signal = SIGCHLD;
        ca.set_tid = 8;
        ca.set_tid_size = 1;
        VAL("unreadable set_tid", syscall(SYS_clone3, &ca, sizeof ca));
    }

    /* Not root: no capability to choose. */
    fflush(stdout);
    pid_t u = fork();
    if (u == 0) {
        setgid(65534);
        setuid(65534);
        pid_t w = 23456, z = 0;
        try_pids("as nobody, a free pid", &w, 1);
        try_pids("as nobody, pid 1 (taken)", &init, 1);
        try_pids("as nobody, pid 0", &z, 1);
        _exit(0);
    }
    waitpid(u, &st, 0);
    return 0;
}
