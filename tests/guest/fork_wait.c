/* fork_wait: fork, wait4/waitpid/waitid, exit statuses, signals, vfork,
 * execve (of itself, of a missing path, of non-executables), stop/continue.
 * usage: fork_wait [SCRATCH]
 * Re-exec mode: fork_wait --exec-child ARG (prints and exits 9). */
#include "common.h"
#include <sched.h>
#include <sys/resource.h>
#include <sys/mman.h>
#include <sys/times.h>
#include <sys/syscall.h>
#include <time.h>

static void msleep(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

static void on_usr1(int sig) { (void)sig; }

/* struct kernel_sigaction, as rt_sigaction reads and writes it. */
struct ksigaction { void *handler; unsigned long flags; void *restorer; uint64_t mask; };
static struct ksigaction vfork_seen;
static char vfork_stack[16384] __attribute__((aligned(16)));

/* clone3 whose child, sharing our memory on its own stack, runs no libc
 * code: it reads SIGUSR1's action into *seen (rdx) and exits. */
static long clone3_peek_usr1(void *ca, size_t size, struct ksigaction *seen)
{
    long ret;
    __asm__ volatile("syscall\n\t"
                     "test %%rax, %%rax\n\t"
                     "jnz 1f\n\t"
                     "mov $13, %%eax\n\t" /* rt_sigaction(SIGUSR1, NULL, seen, 8) */
                     "mov $10, %%edi\n\t"
                     "xor %%esi, %%esi\n\t"
                     "mov $8, %%r10d\n\t"
                     "syscall\n\t"
                     "mov $60, %%eax\n\t" /* exit(0) */
                     "xor %%edi, %%edi\n\t"
                     "syscall\n\t"
                     "1:\n\t"
                     : "=a"(ret)
                     : "a"((long)SYS_clone3), "D"(ca), "S"(size), "d"(seen)
                     : "rcx", "r11", "r10", "memory");
    return ret;
}

static double tv_secs(struct timeval t) { return t.tv_sec + t.tv_usec / 1e6; }

/* Burns CPU for about `ms` milliseconds of the process's own CPU time. */
static void spin_ms(int ms)
{
    struct timespec a, b;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
    volatile unsigned long x = 0;
    do {
        for (int i = 0; i < 100000; i++) x += i;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
    } while ((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 < ms);
}

static int cmpint(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

static void try_exec(const char *label, const char *path)
{
    char *av[] = {(char *)path, NULL};
    char *ev[] = {NULL};
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        execve(path, av, ev);
        printf("execve %s: %s\n", label, errname(errno));
        fflush(stdout);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    printf("  child %s\n", wstatus_str(st));
}

int main(int argc, char **argv, char **envp)
{
    if (argc > 1 && !strcmp(argv[1], "--exec-child")) {
        setvbuf(stdout, NULL, _IOLBF, 0);
        printf("exec child: argc %d, arg [%s]\n", argc, argc > 2 ? argv[2] : "");
        const char *e = getenv("UMK_FORK_WAIT_ENV");
        printf("exec child: env UMK_FORK_WAIT_ENV=%s\n", e ? e : "(unset)");
        YESNO("exec child: inherited fd 5 open", fcntl(5, F_GETFD) >= 0);
        YESNO("exec child: cloexec fd 6 closed", fcntl(6, F_GETFD) < 0 && errno == EBADF);
        return 9;
    }
    guest_init(argc, argv, "fork_wait");
    int st;
    pid_t pid, me = getpid();

    /* --- fork + exit status ---------------------------------------------- */
    fflush(stdout);
    pid = fork();
    if (pid == 0) _exit(7);
    YESNO("fork returned child pid > 0", pid > 0);
    pid_t w = waitpid(pid, &st, 0);
    YESNO("waitpid returned the child", w == pid);
    printf("child: %s\n", wstatus_str(st));
    VAL("waitpid with no children", waitpid(-1, &st, 0));
    VAL("waitpid WNOHANG with no children", waitpid(-1, &st, WNOHANG));

    int codes[] = {0, 1, 255, 256, -1, 1000};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        fflush(stdout);
        pid = fork();
        if (pid == 0) exit(codes[i]);
        waitpid(pid, &st, 0);
        printf("exit(%d): %s\n", codes[i], wstatus_str(st));
    }

    /* --- getppid / getpid in the child -------------------------------------- */
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        int ok = (getppid() == me) | ((getpid() != me) << 1);
        _exit(ok);
    }
    waitpid(pid, &st, 0);
    YESNO("child getppid() == parent getpid()", WEXITSTATUS(st) & 1);
    YESNO("child getpid() != parent getpid()", WEXITSTATUS(st) & 2);
    {
        /* child's getpid equals what fork returned */
        int p[2];
        pipe(p);
        fflush(stdout);
        pid = fork();
        if (pid == 0) {
            pid_t c = getpid();
            write(p[1], &c, sizeof c);
            _exit(0);
        }
        pid_t c = 0;
        read(p[0], &c, sizeof c);
        waitpid(pid, &st, 0);
        YESNO("child getpid() == fork() return value", c == pid);
        close(p[0]);
        close(p[1]);
    }

    /* --- WNOHANG --------------------------------------------------------- */
    {
        int p[2];
        pipe(p);
        fflush(stdout);
        pid = fork();
        if (pid == 0) {
            char c;
            close(p[1]);
            read(p[0], &c, 1);   /* blocks until the parent closes */
            _exit(3);
        }
        close(p[0]);
        VAL("waitpid WNOHANG while child runs", waitpid(pid, &st, WNOHANG));
        close(p[1]);
        w = waitpid(pid, &st, 0);
        printf("after releasing: %s (pid matches: %s)\n", wstatus_str(st), w == pid ? "yes" : "no");
        VAL("waitpid on reaped pid", waitpid(pid, &st, 0));
    }

    /* --- wait4 with rusage, wait on any child, several children ------------ */
    {
        struct rusage ru;
        fflush(stdout);
        pid = fork();
        if (pid == 0) _exit(11);
        w = wait4(-1, &st, 0, &ru);
        printf("wait4(-1) with rusage: %s, pid matches: %s\n", wstatus_str(st),
               w == pid ? "yes" : "no");
        int got[3], n = 0;
        for (int i = 0; i < 3; i++) {
            fflush(stdout);
            if (fork() == 0) {
                msleep(5 * (3 - i));
                _exit(20 + i);
            }
        }
        while (n < 3 && wait(&st) > 0) got[n++] = WEXITSTATUS(st);
        qsort(got, n, sizeof got[0], cmpint);
        printf("three children (sorted): %d %d %d\n", got[0], got[1], got[2]);
    }

    /* --- waitid ---------------------------------------------------------- */
    {
        fflush(stdout);
        pid = fork();
        if (pid == 0) _exit(5);
        siginfo_t si;
        memset(&si, 0, sizeof si);
        VAL("waitid P_PID WEXITED", waitid(P_PID, pid, &si, WEXITED));
        printf("  si_signo %s si_code %s si_status %d pid matches %s\n", signame(si.si_signo),
               si.si_code == CLD_EXITED ? "CLD_EXITED" : "other", si.si_status,
               si.si_pid == pid ? "yes" : "no");
        VAL("waitid bad options", waitid(P_ALL, 0, &si, 0));
    }

    /* --- killed by signal ------------------------------------------------- */
    int sigs[] = {SIGKILL, SIGTERM, SIGUSR1, SIGINT, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        int p[2];
        pipe(p);
        fflush(stdout);
        pid = fork();
        if (pid == 0) {
            close(p[0]);
            write(p[1], "r", 1);   /* ready */
            for (;;) pause();
        }
        char c;
        close(p[1]);
        read(p[0], &c, 1);
        close(p[0]);
        kill(pid, sigs[i]);
        waitpid(pid, &st, 0);
        printf("kill(child, %s): %s\n", signame(sigs[i]), wstatus_str(st));
    }
    {
        fflush(stdout);
        pid = fork();
        if (pid == 0) {
            struct rlimit rl = {0, 0};
            setrlimit(RLIMIT_CORE, &rl);
            abort();
        }
        waitpid(pid, &st, 0);
        printf("child abort(): %s\n", wstatus_str(st));
        fflush(stdout);
        pid = fork();
        if (pid == 0) {
            struct rlimit rl = {0, 0};
            setrlimit(RLIMIT_CORE, &rl);
            volatile int *np = NULL;
            *np = 1;
            _exit(0);
        }
        waitpid(pid, &st, 0);
        printf("child NULL write: %s\n", wstatus_str(st));
    }

    /* --- stop / continue ------------------------------------------------- */
    {
        int p[2];
        pipe(p);
        fflush(stdout);
        pid = fork();
        if (pid == 0) {
            char c;
            close(p[1]);
            raise(SIGSTOP);
            read(p[0], &c, 1);   /* do not exit before the parent saw WCONTINUED */
            _exit(4);
        }
        close(p[0]);
        waitpid(pid, &st, WUNTRACED);
        printf("WUNTRACED: %s\n", wstatus_str(st));
        kill(pid, SIGCONT);
        waitpid(pid, &st, WCONTINUED);
        printf("WCONTINUED: %s\n", wstatus_str(st));
        close(p[1]);
        waitpid(pid, &st, 0);
        printf("then: %s\n", wstatus_str(st));
    }

    /* --- vfork ----------------------------------------------------------- */
    {
        static volatile int shared = 0;
        fflush(stdout);
        pid = vfork();
        if (pid == 0) {
            shared = 1;
            _exit(5);
        }
        waitpid(pid, &st, 0);
        printf("vfork child: %s\n", wstatus_str(st));
        YESNO("vfork child's write visible to parent (shared memory)", shared == 1);
        /* vfork + execve */
        char *av[] = {g_self, "--exec-child", "from-vfork", NULL};
        char *ev[] = {NULL};
        fflush(stdout);
        pid = vfork();
        if (pid == 0) {
            execve(g_self, av, ev);
            _exit(127);
        }
        waitpid(pid, &st, 0);
        printf("vfork+execve child: %s\n", wstatus_str(st));
    }

    /* --- execve of itself ------------------------------------------------ */
    {
        int f5 = open(g_self, O_RDONLY);       /* becomes fd 3 or higher */
        dup2(f5, 5);
        int f6 = dup(f5);
        dup2(f6, 6);
        fcntl(6, F_SETFD, FD_CLOEXEC);
        char *av[] = {g_self, "--exec-child", "hello exec", NULL};
        char *ev[] = {"UMK_FORK_WAIT_ENV=passed", NULL};
        (void)envp;
        fflush(stdout);
        pid = fork();
        if (pid == 0) {
            execve(g_self, av, ev);
            _exit(127);
        }
        waitpid(pid, &st, 0);
        printf("fork+execve self: %s\n", wstatus_str(st));
        close(5); close(6); close(f5); close(f6);
    }

    /* --- CPU time: wait4's rusage, waitid's, RUSAGE_CHILDREN, times, SIGCHLD */
    {
        struct rusage ru, self, kids0, kids;
        struct tms t0, t1;
        getrusage(RUSAGE_CHILDREN, &kids0);
        times(&t0);
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            /* a grandchild spins 150ms, then the child does */
            pid_t g = fork();
            if (g == 0) { spin_ms(150); _exit(0); }
            waitpid(g, NULL, 0);
            spin_ms(150);
            _exit(0);
        }
        int st;
        wait4(pid, &st, 0, &ru);
        double cpu = tv_secs(ru.ru_utime) + tv_secs(ru.ru_stime);
        YESNO("wait4 rusage counts the child and its waited-for child (>= 0.25s)", cpu >= 0.25);
        YESNO("  and not absurdly more (< 5s)", cpu < 5);
        getrusage(RUSAGE_CHILDREN, &kids);
        double kcpu = tv_secs(kids.ru_utime) + tv_secs(kids.ru_stime)
                      - tv_secs(kids0.ru_utime) - tv_secs(kids0.ru_stime);
        YESNO("RUSAGE_CHILDREN grew by the same", kcpu >= 0.25 && kcpu < 5);
        times(&t1);
        YESNO("times(): tms_cutime + tms_cstime grew by >= 25 ticks",
              (t1.tms_cutime + t1.tms_cstime) - (t0.tms_cutime + t0.tms_cstime) >= 25);
        getrusage(RUSAGE_SELF, &self);
        YESNO("RUSAGE_SELF: the parent itself used little (< 0.2s)",
              tv_secs(self.ru_utime) + tv_secs(self.ru_stime) < 0.2);
        VAL("getrusage(bad who)", getrusage(5, &self));
        VAL("getrusage(RUSAGE_CHILDREN, bad pointer)", getrusage(RUSAGE_CHILDREN, (void *)8));
        VAL("wait4 bad rusage pointer (no child)", wait4(-1, &st, WNOHANG, (void *)8));
        /* waitid's rusage (the kernel's fifth argument) and si_utime */
        fflush(stdout);
        pid = fork();
        if (pid == 0) { spin_ms(100); _exit(3); }
        siginfo_t si;
        memset(&si, 0x55, sizeof si);
        memset(&ru, 0, sizeof ru);
        syscall(SYS_waitid, P_PID, pid, &si, WEXITED, &ru);
        YESNO("waitid rusage >= 0.08s", tv_secs(ru.ru_utime) + tv_secs(ru.ru_stime) >= 0.08);
        printf("  si_code %d si_status %d errno %d\n", si.si_code, si.si_status, si.si_errno);
        YESNO("  si_uid is the child's", si.si_uid == getuid());
        YESNO("  the rest of the siginfo is left as it was (si_utime)",
              si.si_utime == (clock_t)0x5555555555555555L);
        /* SIGCHLD carries the child's times */
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGCHLD);
        sigprocmask(SIG_BLOCK, &set, NULL);
        fflush(stdout);
        pid = fork();
        if (pid == 0) { spin_ms(100); _exit(0); }
        sigwaitinfo(&set, &si);
        YESNO("SIGCHLD si_utime + si_stime >= 8 ticks", si.si_utime + si.si_stime >= 8);
        waitpid(pid, NULL, 0);
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        VAL("waitid with no children, bad siginfo pointer",
            syscall(SYS_waitid, P_ALL, 0, (void *)8, WEXITED | WNOHANG, NULL));
        memset(&si, 0x55, sizeof si);
        VAL("waitid with no children", syscall(SYS_waitid, P_ALL, 0, &si, WEXITED, NULL));
        printf("  si_signo %d si_pid %d si_status %d\n", si.si_signo, si.si_pid, si.si_status);
    }

    /* --- resource limits the kernel enforces on the process itself ---------- */
    {
        int st;
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            struct rlimit rl = { 256 << 20, 256 << 20 };
            int ok = setrlimit(RLIMIT_AS, &rl) == 0;
            void *p = mmap(NULL, 512 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            int refused = p == MAP_FAILED && errno == ENOMEM;
            void *q = mmap(NULL, 16 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            _exit(ok && refused && q != MAP_FAILED ? 0 : 1);
        }
        waitpid(pid, &st, 0);
        printf("RLIMIT_AS 256 MiB: a 512 MiB mmap fails with ENOMEM, a small one works: %s\n",
               WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "yes" : "no");
        fflush(stdout);
        pid = fork();
        if (pid == 0) {
            struct rlimit rl = { 1, 2 };
            struct rlimit core0 = { 0, 0 };
            setrlimit(RLIMIT_CORE, &core0);
            setrlimit(RLIMIT_CPU, &rl);
            for (;;) spin_ms(1000);
        }
        waitpid(pid, &st, 0);
        printf("RLIMIT_CPU 1 s then spinning: %s\n", wstatus_str(st));
    }

    /* --- clone3 ------------------------------------------------------------ */
    {
        struct {
            uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls,
                set_tid, set_tid_size, cgroup, extra[3];
        } ca;
        int st;
        pid_t ptid = 0;
        memset(&ca, 0, sizeof ca);
        ca.flags = CLONE_PARENT_SETTID;
        ca.parent_tid = (uintptr_t)&ptid;
        ca.exit_signal = SIGCHLD;
        fflush(stdout);
        long r = syscall(SYS_clone3, &ca, 88);
        if (r == 0) _exit(7);
        printf("clone3 like fork: %s, parent_tid is the child: %s\n", r > 0 ? "ok" : errname(errno),
               r > 0 && ptid == r ? "yes" : "no");
        waitpid((pid_t)r, &st, 0);
        printf("  child %s\n", wstatus_str(st));
        /* exit_signal 0: only __WALL/__WCLONE waits see it */
        ca.flags = 0;
        ca.exit_signal = 0;
        fflush(stdout);
        r = syscall(SYS_clone3, &ca, 64);
        if (r == 0) _exit(8);
        VAL("  exit_signal 0 child: waitpid without __WCLONE", waitpid((pid_t)r, &st, WNOHANG));
        waitpid((pid_t)r, &st, __WCLONE);
        printf("  with __WCLONE: %s\n", wstatus_str(st));
        /* a bigger struct is fine if the extra fields are zero */
        ca.exit_signal = SIGCHLD;
        fflush(stdout);
        r = syscall(SYS_clone3, &ca, sizeof ca);
        if (r == 0) _exit(9);
        waitpid((pid_t)r, &st, 0);
        printf("clone3 with a 112-byte struct: %s\n", wstatus_str(st));
        ca.extra[1] = 1;
        VAL("  with a nonzero unknown field", syscall(SYS_clone3, &ca, sizeof ca));
        ca.extra[1] = 0;
        VAL("clone3 size 32", syscall(SYS_clone3, &ca, 32));
        VAL("clone3 size 8192", syscall(SYS_clone3, &ca, 8192));
        VAL("clone3 bad pointer", syscall(SYS_clone3, (void *)8, 64));
        ca.exit_signal = 65;
        VAL("clone3 exit_signal 65", syscall(SYS_clone3, &ca, 64));
        ca.exit_signal = SIGCHLD;
        ca.flags = SIGCHLD;
        VAL("clone3 with a signal in flags", syscall(SYS_clone3, &ca, 64));
        ca.flags = CLONE_THREAD;
        VAL("clone3 CLONE_THREAD without CLONE_SIGHAND", syscall(SYS_clone3, &ca, 64));
        ca.flags = CLONE_PARENT;
        VAL("clone3 CLONE_PARENT with an exit_signal", syscall(SYS_clone3, &ca, 64));
        ca.flags = 0;
        ca.stack = 0x10000;
        VAL("clone3 stack without a size", syscall(SYS_clone3, &ca, 64));
        ca.stack = 0;
        ca.stack_size = 4096;
        VAL("clone3 size without a stack", syscall(SYS_clone3, &ca, 64));
        ca.stack_size = 0;
        ca.set_tid_size = 1;
        VAL("clone3 set_tid_size without set_tid", syscall(SYS_clone3, &ca, 88));
        ca.set_tid_size = 0;
        ca.flags = 1ULL << 40;
        VAL("clone3 unknown flag bit 40", syscall(SYS_clone3, &ca, 64));
        ca.flags = CLONE_SIGHAND | (1ULL << 32);
        VAL("clone3 CLONE_SIGHAND with CLONE_CLEAR_SIGHAND", syscall(SYS_clone3, &ca, 64));
        /* set_tid is copied in before anything else is judged (kernel/fork.c
         * copy_clone_args_from_user); what follows needs privilege, which
         * depends on the host: umk-only tests cover it (tests/boot.rs). */
        ca.flags = 0;
        ca.set_tid = 8;
        ca.set_tid_size = 1;
        VAL("clone3 unreadable set_tid", syscall(SYS_clone3, &ca, 88));
        ca.flags = CLONE_SIGHAND | (1ULL << 32);
        VAL("  with bad flags too", syscall(SYS_clone3, &ca, 88));
        ca.flags = 0;
        ca.set_tid_size = 33;
        VAL("clone3 set_tid_size 33", syscall(SYS_clone3, &ca, 88));
        ca.set_tid = 0;
        ca.set_tid_size = 0;
        /* CLONE_INTO_CGROUP: the fd must name a cgroup2 directory. */
        int notcg = open("plain-cg.txt", O_CREAT | O_RDWR, 0644);
        ca.flags = 1ULL << 33;
        ca.cgroup = (uint64_t)notcg;
        VAL("clone3 CLONE_INTO_CGROUP, a regular file", syscall(SYS_clone3, &ca, 88));
        VAL("  with a 64-byte struct", syscall(SYS_clone3, &ca, 64));
        ca.cgroup = 999;
        VAL("  closed fd", syscall(SYS_clone3, &ca, 88));
        ca.cgroup = 1ULL << 31;
        VAL("  fd above INT_MAX", syscall(SYS_clone3, &ca, 88));
        ca.flags = 0;
        ca.cgroup = 0;
        close(notcg);
        unlink("plain-cg.txt");
    }

    /* --- clone3 with CLONE_CLEAR_SIGHAND --------------------------------- */
    /* A middle process M sets actions, then clone3s C with the flag. C sees
     * handlers reset to SIG_DFL, SIG_IGN kept, every sa_flags and sa_mask
     * cleared; SA_NOCLDWAIT gone too, so C's own child leaves a zombie. */
    {
        int pfd[2], st;
        pipe(pfd);
        fflush(stdout);
        pid_t m = fork();
        if (m == 0) {
            static const int sigs[] = { SIGUSR1, SIGUSR2, SIGHUP, SIGTERM, SIGCHLD };
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = on_usr1;
            sa.sa_flags = SA_RESTART;
            sigaction(SIGUSR1, &sa, NULL);
            sigaddset(&sa.sa_mask, SIGINT);
            sigaction(SIGUSR2, &sa, NULL);
            sa.sa_flags = SA_NOCLDWAIT | SA_NOCLDSTOP | SA_RESTART;
            sigaction(SIGCHLD, &sa, NULL);
            signal(SIGHUP, SIG_IGN);
            struct {
                uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
            } ca;
            memset(&ca, 0, sizeof ca);
            ca.flags = 1ULL << 32; /* CLONE_CLEAR_SIGHAND */
            ca.exit_signal = SIGCHLD;
            long r = syscall(SYS_clone3, &ca, sizeof ca);
            if (r == 0) {
                close(pfd[0]);
                for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
                    struct sigaction o;
                    sigaction(sigs[i], NULL, &o);
                    int nmask = 0;
                    for (int s = 1; s < NSIG; s++) nmask += sigismember(&o.sa_mask, s) == 1;
                    printf("  CLEAR_SIGHAND child: %s: %s, flags 0: %s, mask empty: %s\n",
                           signame(sigs[i]),
                           o.sa_handler == SIG_DFL ? "SIG_DFL" : o.sa_handler == SIG_IGN ? "SIG_IGN" : "handler",
                           o.sa_flags == 0 ? "yes" : "no", nmask == 0 ? "yes" : "no");
                }
                fflush(stdout);
                pid_t g = fork();
                if (g == 0) _exit(5);
                int gs;
                pid_t w = waitpid(g, &gs, 0);
                printf("  CLEAR_SIGHAND child's child: %s\n", w == g ? wstatus_str(gs) : errname(errno));
                fflush(stdout);
                _exit(0);
            }
            close(pfd[1]);
            char c;
            /* C holds the write end until it exits (M keeps no zombie). */
            while (read(pfd[0], &c, 1) > 0) {}
            struct sigaction o;
            sigaction(SIGUSR1, NULL, &o);
            printf("  M keeps its handler: %s\n", r > 0 && o.sa_handler == on_usr1 ? "yes" : "no");
            fflush(stdout);
            _exit(0);
        }
        close(pfd[0]);
        close(pfd[1]);
        waitpid(m, &st, 0);
        printf("clone3 CLONE_CLEAR_SIGHAND: %s\n", wstatus_str(st));
    }
    /* The same for a vfork-like child on its own stack (posix_spawn's way). */
    {
        struct sigaction sa, o;
        int st;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_usr1;
        sa.sa_flags = SA_RESTART;
        sigaction(SIGUSR1, &sa, NULL);
        struct {
            uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
        } ca;
        memset(&ca, 0, sizeof ca);
        ca.flags = CLONE_VM | CLONE_VFORK | (1ULL << 32);
        ca.exit_signal = SIGCHLD;
        ca.stack = (uintptr_t)vfork_stack;
        ca.stack_size = sizeof vfork_stack;
        vfork_seen.handler = on_usr1;
        vfork_seen.flags = 1;
        fflush(stdout);
        long r = clone3_peek_usr1(&ca, sizeof ca, &vfork_seen);
        waitpid((pid_t)r, &st, 0);
        sigaction(SIGUSR1, NULL, &o);
        printf("vfork-like clone3 CLONE_CLEAR_SIGHAND: %s; child saw SIG_DFL: %s, flags 0: %s; "
               "the parent keeps its handler: %s\n",
               wstatus_str(st), vfork_seen.handler == SIG_DFL ? "yes" : "no",
               vfork_seen.flags == 0 ? "yes" : "no", o.sa_handler == on_usr1 ? "yes" : "no");
        signal(SIGUSR1, SIG_DFL);
    }

    /* --- execve failures ------------------------------------------------- */
    write_file("plain.txt", "not a program\n");
    chmod("plain.txt", 0644);
    write_file("garbage", "\x01\x02\x03\x04garbage that is not ELF or #!\n");
    chmod("garbage", 0755);
    write_file("badinterp.sh", "#!/nonexistent/interpreter\n");
    chmod("badinterp.sh", 0755);
    mkdir("adir", 0755);
    printf("execve missing path:\n");
    try_exec("missing", "/nonexistent/program");
    printf("execve non-executable file:\n");
    try_exec("plain.txt", "plain.txt");
    printf("execve directory:\n");
    try_exec("adir", "adir");
    printf("execve executable garbage:\n");
    try_exec("garbage", "./garbage");
    printf("execve #! with missing interpreter:\n");
    try_exec("badinterp.sh", "./badinterp.sh");
    printf("execve path through a file:\n");
    try_exec("plain.txt/x", "plain.txt/x");
    VAL("execve in parent with NULL path (EFAULT)", syscall(SYS_execve, NULL, NULL, NULL));

    guest_cleanup();
    printf("done\n");
    return 0;
}
