/* signals: sigaction/SA_SIGINFO, masks, pending, queuing, SIGCHLD, EINTR
 * vs SA_RESTART, sigaltstack, faults, sigtimedwait, SA_RESETHAND.
 * usage: signals [SCRATCH] */
#include "common.h"
#include <setjmp.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <pthread.h>

static volatile sig_atomic_t hits, last_sig, last_code, last_pid_self, last_value;
static volatile sig_atomic_t usr1_blocked_in_handler, usr2_blocked_in_handler;
static volatile sig_atomic_t rt_count, alarm_hits, chld_hits, chld_code, chld_status;
static volatile sig_atomic_t on_altstack, altstack_flag_onstack;
static char *alt_lo, *alt_hi;
static sigjmp_buf jb;
static volatile sig_atomic_t fault_code;
static void *volatile fault_addr;

static const char *code_name(int sig, int code)
{
    switch (code) {
    case SI_USER: return "SI_USER";
    case SI_KERNEL: return "SI_KERNEL";
    case SI_QUEUE: return "SI_QUEUE";
    case SI_TIMER: return "SI_TIMER";
    case SI_TKILL: return "SI_TKILL";
    }
    if (sig == SIGCHLD) switch (code) {
        case CLD_EXITED: return "CLD_EXITED";
        case CLD_KILLED: return "CLD_KILLED";
        case CLD_DUMPED: return "CLD_DUMPED";
        case CLD_STOPPED: return "CLD_STOPPED";
        case CLD_CONTINUED: return "CLD_CONTINUED";
    }
    if (sig == SIGSEGV) switch (code) {
        case SEGV_MAPERR: return "SEGV_MAPERR";
        case SEGV_ACCERR: return "SEGV_ACCERR";
    }
    if (sig == SIGFPE && code == FPE_INTDIV) return "FPE_INTDIV";
    static char buf[32];
    snprintf(buf, sizeof buf, "code%d", code);
    return buf;
}

static void h_info(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    sigset_t cur;
    hits++;
    last_sig = sig;
    last_code = si->si_code;
    last_pid_self = si->si_pid == getpid();
    last_value = si->si_value.sival_int;
    sigprocmask(SIG_BLOCK, NULL, &cur);
    usr1_blocked_in_handler = sigismember(&cur, SIGUSR1);
    usr2_blocked_in_handler = sigismember(&cur, SIGUSR2);
}

static void h_rt(int sig) { (void)sig; rt_count++; }
static void h_alarm(int sig) { (void)sig; alarm_hits++; }
static void h_chld(int sig, siginfo_t *si, void *uc)
{
    (void)sig; (void)uc;
    chld_hits++;
    chld_code = si->si_code;
    chld_status = si->si_status;
}
static void h_alt(int sig)
{
    (void)sig;
    char local;
    stack_t cur;
    on_altstack = &local >= alt_lo && &local < alt_hi;
    sigaltstack(NULL, &cur);
    altstack_flag_onstack = !!(cur.ss_flags & SS_ONSTACK);
}
static void h_fault(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    last_sig = sig;
    fault_code = si->si_code;
    fault_addr = si->si_addr;
    siglongjmp(jb, 1);
}

static void msleep(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

static void report(const char *what)
{
    printf("%s: hits %d sig %s code %s si_pid==getpid %s\n", what, (int)hits,
           signame(last_sig), code_name(last_sig, last_code), last_pid_self ? "yes" : "no");
}

/* Helpers for the process-directed signal cases (threads). */
static int sfd_for_thread;
static volatile pid_t handler_tid;
static void note_thread(int sig) { (void)sig; handler_tid = (pid_t)syscall(SYS_gettid); }
static void *take_with_sigwait(void *a)
{
    (void)a;
    sigset_t w;
    sigemptyset(&w);
    sigaddset(&w, SIGUSR2);
    int sig = 0;
    sigwait(&w, &sig);
    return (void *)(long)sig;
}
static void *take_with_signalfd(void *a)
{
    (void)a;
    struct signalfd_siginfo si;
    if (read(sfd_for_thread, &si, sizeof si) != sizeof si) return (void *)0L;
    return (void *)(long)si.ssi_signo;
}
static void *unblock_and_wait(void *a)
{
    (void)a;
    sigset_t u;
    sigemptyset(&u);
    sigaddset(&u, SIGUSR1);
    pthread_sigmask(SIG_UNBLOCK, &u, NULL);
    for (int i = 0; i < 200 && !handler_tid; i++) msleep(5);
    return (void *)(long)(handler_tid == (pid_t)syscall(SYS_gettid));
}

int main(int argc, char **argv)
{
    guest_init(argc, argv, "signals");
    struct sigaction sa, old;
    sigset_t set, pend;

    /* --- SA_SIGINFO handler, kill vs raise vs sigqueue ----------------------- */
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = h_info;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR2);
    VAL("sigaction SIGUSR1", sigaction(SIGUSR1, &sa, &old));
    YESNO("previous disposition SIG_DFL", old.sa_handler == SIG_DFL);
    VAL("kill(self, SIGUSR1)", kill(getpid(), SIGUSR1));
    report("after kill");
    YESNO("SIGUSR1 blocked inside its handler", usr1_blocked_in_handler);
    YESNO("sa_mask SIGUSR2 blocked inside handler", usr2_blocked_in_handler);
    VAL("raise(SIGUSR1)", raise(SIGUSR1));
    report("after raise");
    union sigval sv = {.sival_int = 1234};
    VAL("sigqueue(self, SIGUSR1, 1234)", sigqueue(getpid(), SIGUSR1, sv));
    report("after sigqueue");
    printf("  si_value %d\n", (int)last_value);
    sigprocmask(SIG_BLOCK, NULL, &set);
    YESNO("SIGUSR1 unblocked again after handler", !sigismember(&set, SIGUSR1));
    VAL("kill(self, 0)", kill(getpid(), 0));
    VAL("kill(self, 99)", kill(getpid(), 99));
    VAL("kill(nonexistent pid, 0)", kill(0x3fffffff, 0));
    VAL("sigaction SIGKILL", sigaction(SIGKILL, &sa, NULL));
    VAL("sigaction SIGSTOP", sigaction(SIGSTOP, &sa, NULL));
    VAL("sigaction 0", sigaction(0, &sa, NULL));
    VAL("sigaction 65", syscall(SYS_rt_sigaction, 65, NULL, NULL, 8));
    sigaction(SIGUSR1, NULL, &old);
    YESNO("sigaction query returns our handler", old.sa_sigaction == h_info &&
          (old.sa_flags & SA_SIGINFO));

    /* --- block / pending / unblock --------------------------------------- */
    hits = 0;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    VAL("sigprocmask block SIGUSR1", sigprocmask(SIG_BLOCK, &set, NULL));
    kill(getpid(), SIGUSR1);
    kill(getpid(), SIGUSR1);
    printf("handler runs while blocked: %d\n", (int)hits);
    sigpending(&pend);
    YESNO("sigpending has SIGUSR1", sigismember(&pend, SIGUSR1));
    YESNO("sigpending has SIGUSR2", sigismember(&pend, SIGUSR2));
    VAL("sigprocmask unblock", sigprocmask(SIG_UNBLOCK, &set, NULL));
    printf("handler runs after unblock (standard signals do not queue): %d\n", (int)hits);
    sigpending(&pend);
    YESNO("sigpending has SIGUSR1 now", sigismember(&pend, SIGUSR1));
    {
        sigset_t all, cur;
        sigfillset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        sigprocmask(SIG_SETMASK, NULL, &cur);
        YESNO("SIGKILL cannot be blocked", !sigismember(&cur, SIGKILL));
        YESNO("SIGSTOP cannot be blocked", !sigismember(&cur, SIGSTOP));
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        VAL("sigprocmask bad how", sigprocmask(99, &all, NULL));
    }

    /* --- real-time signals queue ------------------------------------------ */
    {
        int rt = SIGRTMIN + 1;
        signal(rt, h_rt);
        sigemptyset(&set);
        sigaddset(&set, rt);
        sigprocmask(SIG_BLOCK, &set, NULL);
        for (int i = 0; i < 3; i++) sigqueue(getpid(), rt, sv);
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        printf("SIGRTMIN+1 sent 3x while blocked, delivered: %d\n", (int)rt_count);
        signal(rt, SIG_DFL);
    }

    /* --- sigtimedwait / sigwaitinfo ---------------------------------------- */
    {
        siginfo_t si;
        struct timespec ts = {0, 0};
        sigemptyset(&set);
        sigaddset(&set, SIGUSR2);
        sigprocmask(SIG_BLOCK, &set, NULL);
        raise(SIGUSR2);
        int s = sigtimedwait(&set, &si, &ts);
        printf("sigtimedwait: %s code %s\n", s > 0 ? signame(s) : errname(errno),
               code_name(si.si_signo, si.si_code));
        VAL("sigtimedwait nothing pending, timeout 0", sigtimedwait(&set, &si, &ts));
        ts.tv_nsec = 20000000;
        VAL("sigtimedwait nothing pending, 20ms", sigtimedwait(&set, &si, &ts));
        sigprocmask(SIG_UNBLOCK, &set, NULL);
    }

    /* --- SIG_IGN, SA_RESETHAND, SA_NODEFER ---------------------------------- */
    signal(SIGUSR2, SIG_IGN);
    VAL("raise ignored SIGUSR2", raise(SIGUSR2));
    hits = 0;
    sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR2, &sa, NULL);
    raise(SIGUSR2);
    sigaction(SIGUSR2, NULL, &old);
    printf("SA_RESETHAND: hits %d, disposition after: %s\n", (int)hits,
           old.sa_handler == SIG_DFL ? "SIG_DFL" : "other");
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGUSR1, &sa, NULL);
    raise(SIGUSR1);
    YESNO("SA_NODEFER: SIGUSR1 blocked inside its handler", usr1_blocked_in_handler);
    signal(SIGUSR2, SIG_DFL);

    /* --- SIGCHLD ------------------------------------------------------------ */
    {
        struct sigaction sc;
        memset(&sc, 0, sizeof sc);
        sc.sa_sigaction = h_chld;
        sc.sa_flags = SA_SIGINFO;
        sigaction(SIGCHLD, &sc, NULL);
        sigemptyset(&set);
        sigaddset(&set, SIGCHLD);
        sigprocmask(SIG_BLOCK, &set, NULL);
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) _exit(6);
        sigset_t empty;
        sigemptyset(&empty);
        while (!chld_hits) {
            int r = sigsuspend(&empty);
            if (r != -1 || errno != EINTR) break;
        }
        printf("SIGCHLD on child exit: hits %d code %s status %d\n", (int)chld_hits,
               code_name(SIGCHLD, chld_code), (int)chld_status);
        int st;
        waitpid(pid, &st, 0);
        printf("  child %s\n", wstatus_str(st));
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        /* killed child */
        chld_hits = 0;
        sigprocmask(SIG_BLOCK, &set, NULL);
        fflush(stdout);
        pid = fork();
        if (pid == 0) { for (;;) pause(); }
        kill(pid, SIGTERM);
        while (!chld_hits) sigsuspend(&empty);
        printf("SIGCHLD on child killed: code %s status %s\n", code_name(SIGCHLD, chld_code),
               signame(chld_status));
        waitpid(pid, &st, 0);
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        /* signal from child to parent */
        hits = 0;
        sa.sa_flags = SA_SIGINFO;
        sigaction(SIGUSR1, &sa, NULL);
        sigemptyset(&set);
        sigaddset(&set, SIGUSR1);
        sigprocmask(SIG_BLOCK, &set, NULL);
        fflush(stdout);
        pid = fork();
        if (pid == 0) { kill(getppid(), SIGUSR1); _exit(0); }
        while (!hits) sigsuspend(&empty);
        printf("SIGUSR1 from child: code %s, si_pid is child: %s\n",
               code_name(SIGUSR1, last_code), last_pid_self ? "no (self)" : "yes");
        waitpid(pid, &st, 0);
        sigprocmask(SIG_UNBLOCK, &set, NULL);

        /* SA_NOCLDWAIT: no zombie is left, but SIGCHLD still comes. */
        chld_hits = 0;
        sc.sa_flags = SA_SIGINFO | SA_NOCLDWAIT;
        sigaction(SIGCHLD, &sc, NULL);
        sigemptyset(&set);
        sigaddset(&set, SIGCHLD);
        sigprocmask(SIG_BLOCK, &set, NULL);
        fflush(stdout);
        pid = fork();
        if (pid == 0) _exit(7);
        while (!chld_hits) sigsuspend(&empty);
        printf("SA_NOCLDWAIT: SIGCHLD code %s status %d\n", code_name(SIGCHLD, chld_code),
               (int)chld_status);
        VAL("  waitpid for that child", waitpid(pid, &st, 0));
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        /* blocking wait with SA_NOCLDWAIT: returns ECHILD once all are gone */
        fflush(stdout);
        pid = fork();
        if (pid == 0) { msleep(20); _exit(0); }
        VAL("  blocking waitpid(-1) until the child is gone", waitpid(-1, &st, 0));
        /* exec resets sa_flags; fork keeps them */
        {
            int p[2];
            char c = '?';
            pipe(p);
            fflush(stdout);
            pid = fork();
            if (pid == 0) {
                pid_t g = fork();
                if (g == 0) _exit(0);
                c = waitpid(g, NULL, 0) == -1 && errno == ECHILD ? 'y' : 'n';
                write(p[1], &c, 1);
                _exit(0);
            }
            close(p[1]);
            read(p[0], &c, 1);
            close(p[0]);
            printf("  a forked child inherits it: %c\n", c);
            waitpid(pid, &st, 0);
        }

        /* SIG_IGN: the same reaping, and no signal. */
        signal(SIGCHLD, SIG_IGN);
        fflush(stdout);
        pid = fork();
        if (pid == 0) _exit(0);
        VAL("SIG_IGN: blocking waitpid for the child", waitpid(pid, &st, 0));

        /* SA_NOCLDSTOP: no SIGCHLD when a child stops or continues. */
        chld_hits = 0;
        sc.sa_flags = SA_SIGINFO | SA_NOCLDSTOP;
        sigaction(SIGCHLD, &sc, NULL);
        /* The child waits on a gate after it continues, so that the
         * continue, not its exit, is what WCONTINUED reports. */
        int gate[2];
        pipe(gate);
        fflush(stdout);
        pid = fork();
        if (pid == 0) { char b; raise(SIGSTOP); read(gate[0], &b, 1); _exit(0); }
        waitpid(pid, &st, WUNTRACED);
        printf("SA_NOCLDSTOP: child %s, SIGCHLD hits %d\n", wstatus_str(st), (int)chld_hits);
        kill(pid, SIGCONT);
        waitpid(pid, &st, WCONTINUED);
        printf("  child %s, SIGCHLD hits %d\n", wstatus_str(st), (int)chld_hits);
        write(gate[1], "g", 1);
        waitpid(pid, &st, 0);
        printf("  child %s, SIGCHLD hits %d\n", wstatus_str(st), (int)chld_hits);
        /* and without it */
        chld_hits = 0;
        sc.sa_flags = SA_SIGINFO;
        sigaction(SIGCHLD, &sc, NULL);
        fflush(stdout);
        pid = fork();
        if (pid == 0) { char b; raise(SIGSTOP); read(gate[0], &b, 1); _exit(0); }
        waitpid(pid, &st, WUNTRACED);
        printf("without SA_NOCLDSTOP: child %s, SIGCHLD hits %d code %s\n", wstatus_str(st),
               (int)chld_hits, code_name(SIGCHLD, chld_code));
        kill(pid, SIGCONT);
        waitpid(pid, &st, WCONTINUED);
        /* (its CLD_CONTINUED SIGCHLD may come after the wait returns) */
        printf("  child %s\n", wstatus_str(st));
        write(gate[1], "g", 1);
        waitpid(pid, &st, 0);
        close(gate[0]);
        close(gate[1]);
        signal(SIGCHLD, SIG_DFL);
    }

    /* --- EINTR: blocking pipe read + alarm() without SA_RESTART ------------ */
    {
        int p[2];
        char c;
        struct sigaction al;
        memset(&al, 0, sizeof al);
        al.sa_handler = h_alarm;
        al.sa_flags = 0;
        sigaction(SIGALRM, &al, NULL);
        pipe(p);
        alarm(1);
        errno = 0;
        long r = read(p[0], &c, 1);
        printf("read interrupted by alarm (no SA_RESTART): %ld %s, handler ran %d\n", r,
               errname(errno), (int)alarm_hits);
        VAL("alarm(0) remaining", alarm(0));
        close(p[0]);
        close(p[1]);

        /* SA_RESTART: the read resumes and gets the child's late write */
        alarm_hits = 0;
        al.sa_flags = SA_RESTART;
        sigaction(SIGALRM, &al, NULL);
        pipe(p);
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            close(p[0]);
            msleep(300);
            write(p[1], "R", 1);
            _exit(0);
        }
        close(p[1]);
        struct itimerval it = {{0, 0}, {0, 100000}};   /* 100 ms */
        setitimer(ITIMER_REAL, &it, NULL);
        errno = 0;
        r = read(p[0], &c, 1);
        printf("read with SA_RESTART: %ld [%c], handler ran %d\n", r, r == 1 ? c : '-',
               (int)alarm_hits);
        int st;
        waitpid(pid, &st, 0);
        close(p[0]);

        /* nanosleep is never restarted: EINTR */
        alarm_hits = 0;
        it.it_value.tv_usec = 20000;
        setitimer(ITIMER_REAL, &it, NULL);
        struct timespec ts = {2, 0};
        r = nanosleep(&ts, &ts);
        printf("nanosleep(2s) interrupted: %s, remaining > 1s: %s, handler ran %d\n",
               r == 0 ? "0" : errname(errno), ts.tv_sec >= 1 ? "yes" : "no", (int)alarm_hits);
        signal(SIGALRM, SIG_DFL);
    }

    /* --- sigaltstack -------------------------------------------------------- */
    {
        stack_t ss, cur;
        size_t sz = 64 * 1024;
        alt_lo = malloc(sz);
        alt_hi = alt_lo + sz;
        ss.ss_sp = alt_lo;
        ss.ss_size = sz;
        ss.ss_flags = 0;
        VAL("sigaltstack", sigaltstack(&ss, NULL));
        sigaltstack(NULL, &cur);
        YESNO("sigaltstack query matches", cur.ss_sp == alt_lo && cur.ss_size == sz &&
              cur.ss_flags == 0);
        struct sigaction a2;
        memset(&a2, 0, sizeof a2);
        a2.sa_handler = h_alt;
        a2.sa_flags = SA_ONSTACK;
        sigaction(SIGUSR2, &a2, NULL);
        raise(SIGUSR2);
        YESNO("SA_ONSTACK handler ran on the alternate stack", on_altstack);
        YESNO("ss_flags has SS_ONSTACK inside handler", altstack_flag_onstack);
        a2.sa_flags = 0;
        sigaction(SIGUSR2, &a2, NULL);
        raise(SIGUSR2);
        YESNO("handler without SA_ONSTACK on the alternate stack", on_altstack);
        ss.ss_size = 100;
        VAL("sigaltstack too small", sigaltstack(&ss, NULL));
        ss.ss_flags = SS_DISABLE;
        VAL("sigaltstack SS_DISABLE", sigaltstack(&ss, NULL));
        sigaltstack(NULL, &cur);
        YESNO("disabled", cur.ss_flags == SS_DISABLE);
        signal(SIGUSR2, SIG_DFL);
    }

    /* --- synchronous faults caught by handlers ----------------------------- */
    {
        struct sigaction f;
        memset(&f, 0, sizeof f);
        f.sa_sigaction = h_fault;
        f.sa_flags = SA_SIGINFO;
        sigaction(SIGSEGV, &f, NULL);
        sigaction(SIGFPE, &f, NULL);
        if (sigsetjmp(jb, 1) == 0) {
            volatile int *np = (int *)16;
            *np = 1;
            printf("no fault?\n");
        } else {
            printf("SIGSEGV caught: code %s, si_addr %s\n", code_name(SIGSEGV, fault_code),
                   fault_addr == (void *)16 ? "== 16" : "other");
        }
        if (sigsetjmp(jb, 1) == 0) {
            volatile int z = 0, one = 1;
            volatile int q = one / z;
            (void)q;
            printf("no fault?\n");
        } else {
            printf("SIGFPE caught: code %s\n", code_name(SIGFPE, fault_code));
        }
        sigprocmask(SIG_BLOCK, NULL, &set);
        YESNO("SIGSEGV unblocked after siglongjmp", !sigismember(&set, SIGSEGV));
        signal(SIGSEGV, SIG_DFL);
        signal(SIGFPE, SIG_DFL);
    }

    /* sigwaitinfo/sigtimedwait name the sender as the guest knows it. */
    {
        sigset_t set, old;
        sigemptyset(&set);
        sigaddset(&set, SIGUSR1);
        sigprocmask(SIG_BLOCK, &set, &old);
        kill(getpid(), SIGUSR1);
        siginfo_t si;
        int r = sigwaitinfo(&set, &si);
        printf("sigwaitinfo %s: code %s pid is self %d uid is mine %d\n", signame(r),
               si.si_code == SI_USER ? "SI_USER" : "other", si.si_pid == getpid(), si.si_uid == getuid());
        pid_t kid = fork();
        if (kid == 0) {
            kill(getppid(), SIGUSR1);
            _exit(0);
        }
        struct timespec ts = { 5, 0 };
        r = sigtimedwait(&set, &si, &ts);
        printf("sigtimedwait %s: pid is child %d\n", signame(r), si.si_pid == kid);
        waitpid(kid, NULL, 0);
        ts.tv_sec = 0;
        ts.tv_nsec = 1000000;
        VAL("sigtimedwait, nothing pending", sigtimedwait(&set, &si, &ts));
        sigprocmask(SIG_SETMASK, &old, NULL);
    }

    /* signalfd: blocked signals read as records, with the sender's pid. */
    {
        sigset_t set, old;
        sigemptyset(&set);
        sigaddset(&set, SIGUSR1);
        sigaddset(&set, SIGUSR2);
        sigprocmask(SIG_BLOCK, &set, &old);
        int sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
        printf("signalfd: %s\n", sfd >= 0 ? "ok" : errname(errno));
        struct signalfd_siginfo si;
        VAL("signalfd read, nothing pending", read(sfd, &si, sizeof si));
        VAL("signalfd read, short buffer", read(sfd, &si, 16));
        VAL("signalfd bad mask pointer", syscall(SYS_signalfd4, -1, (void *)8, 8, 0));
        VAL("signalfd bad mask size", syscall(SYS_signalfd4, -1, &set, 4, 0));
        VAL("signalfd bad flags", syscall(SYS_signalfd4, -1, &set, 8, 0x1));
        VAL("signalfd on a closed fd", syscall(SYS_signalfd4, 99, &set, 8, 0));
        VAL("signalfd on a non-signalfd", syscall(SYS_signalfd4, 1, &set, 8, 0));
        VAL("sigtimedwait bad set pointer", syscall(SYS_rt_sigtimedwait, (void *)8, NULL, NULL, 8));
        struct pollfd pfd = { .fd = sfd, .events = POLLIN };
        VAL("poll, nothing pending", poll(&pfd, 1, 0));
        kill(getpid(), SIGUSR1);
        VAL("poll after kill", poll(&pfd, 1, 0));
        long n = read(sfd, &si, sizeof si);
        printf("read %ld: signo %s code %s pid is self %d uid is mine %d\n", n, signame((int)si.ssi_signo),
               si.ssi_code == SI_USER ? "SI_USER" : "other", si.ssi_pid == (uint32_t)getpid(), si.ssi_uid == getuid());
        pid_t kid = fork();
        if (kid == 0) {
            kill(getppid(), SIGUSR2);
            _exit(0);
        }
        waitpid(kid, NULL, 0);
        /* Blocking read: the signal is already queued. */
        fcntl(sfd, F_SETFL, 0);
        n = read(sfd, &si, sizeof si);
        printf("read %ld: signo %s pid is child %d\n", n, signame((int)si.ssi_signo), si.ssi_pid == (uint32_t)kid);
        union sigval v = { .sival_int = 77 };
        sigqueue(getpid(), SIGUSR1, v);
        n = read(sfd, &si, sizeof si);
        printf("read %ld: signo %s code %s int %d\n", n, signame((int)si.ssi_signo),
               si.ssi_code == SI_QUEUE ? "SI_QUEUE" : "other", si.ssi_int);
        /* A new mask through the same fd. */
        sigemptyset(&set);
        sigaddset(&set, SIGUSR2);
        VAL("signalfd new mask", signalfd(sfd, &set, 0) == sfd);
        kill(getpid(), SIGUSR1);
        VAL("poll, only USR1 pending", poll(&pfd, 1, 0));
        close(sfd);
        /* Unblocking delivers the still-pending USR1 to its handler (ignored here). */
        signal(SIGUSR1, SIG_IGN);
        sigprocmask(SIG_SETMASK, &old, NULL);
        signal(SIGUSR1, SIG_DFL);
    }

    /* --- process-directed signals wait for any thread --------------------- */
    {
        sigset_t set, old;
        sigemptyset(&set);
        sigaddset(&set, SIGUSR1);
        sigaddset(&set, SIGUSR2);
        pthread_sigmask(SIG_BLOCK, &set, &old);
        /* Sent while every thread blocks it; a thread created later takes it. */
        kill(getpid(), SIGUSR2);
        pthread_t th;
        pthread_create(&th, NULL, take_with_sigwait, NULL);
        void *got;
        pthread_join(th, &got);
        printf("a later thread's sigwait takes a pending kill(): %s\n", signame((int)(long)got));
        /* A signalfd read in another thread takes a process-directed signal. */
        int sfd = signalfd(-1, &set, 0);
        sfd_for_thread = sfd;
        pthread_create(&th, NULL, take_with_signalfd, NULL);
        msleep(50);
        kill(getpid(), SIGUSR1);
        pthread_join(th, &got);
        printf("a signalfd read in another thread: %s\n", signame((int)(long)got));
        close(sfd);
        /* The thread that unblocks it first runs the handler. */
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = note_thread;
        sigaction(SIGUSR1, &sa, NULL);
        kill(getpid(), SIGUSR1);
        sigset_t pend;
        sigpending(&pend);
        YESNO("pending for the process while all block it", sigismember(&pend, SIGUSR1));
        handler_tid = 0;
        pthread_create(&th, NULL, unblock_and_wait, NULL);
        pthread_join(th, &got);
        printf("the handler ran in the thread that unblocked it: %s\n", got ? "yes" : "no");
        sigpending(&pend);
        YESNO("pending afterwards", sigismember(&pend, SIGUSR1));
        signal(SIGUSR1, SIG_DFL);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }

    /* getpid and gettid never fail, even when a signal whose handler has
     * no SA_RESTART lands in the middle of one, again and again. */
    {
        static struct sigaction sa;
        sa.sa_handler = h_alarm;
        sigaction(SIGALRM, &sa, NULL);
        struct itimerval it = { { 0, 50 }, { 0, 50 } }, off = { { 0, 0 }, { 0, 0 } };
        long bad = 0, me = getpid(), self = syscall(SYS_gettid);
        setitimer(ITIMER_REAL, &it, NULL);
        for (int i = 0; i < 100000; i++) {
            bad += syscall(SYS_getpid) != me;
            bad += syscall(SYS_gettid) != self;
        }
        setitimer(ITIMER_REAL, &off, NULL);
        printf("getpid/gettid under a 50us timer without SA_RESTART: %ld wrong\n", bad);
        signal(SIGALRM, SIG_DFL);
    }

    guest_cleanup();
    printf("done\n");
    return 0;
}
