/* timers: POSIX timers (timer_create, timer_settime, timer_gettime,
 * timer_getoverrun, timer_delete): SI_TIMER siginfo, periodic timers and
 * overruns, absolute times, SIGEV_NONE, SIGEV_THREAD_ID, the C library's
 * SIGEV_THREAD, a timer interrupting a blocking read, fork, bad input;
 * timers on CPU-time clocks (the process's, a thread's, another
 * process's) taken by a handler, sigwaitinfo and signalfd, exec deleting
 * them; setitimer's CPU-time timers; clock_nanosleep on CPU clocks.
 * usage: timers [SCRATCH]   (re-executes itself: timers --after-exec ID) */
#include "common.h"
#include <pthread.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>

/* glibc before 2.41 names SIGEV_THREAD_ID's tid only inside the union. */
#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

/* The raw calls: the kernel's timer ids, not the C library's timer_t. */
static long t_create(clockid_t c, struct sigevent *ev, int *id)
{
    return syscall(SYS_timer_create, c, ev, id);
}
static long t_settime(int id, int flags, const struct itimerspec *n, struct itimerspec *o)
{
    return syscall(SYS_timer_settime, id, flags, n, o);
}
static long t_gettime(int id, struct itimerspec *cur)
{
    return syscall(SYS_timer_gettime, id, cur);
}
static long t_getoverrun(int id) { return syscall(SYS_timer_getoverrun, id); }
static long t_delete(int id) { return syscall(SYS_timer_delete, id); }

static struct itimerspec its(long ms, long interval_ms)
{
    struct itimerspec v;
    v.it_value.tv_sec = ms / 1000;
    v.it_value.tv_nsec = (ms % 1000) * 1000000L;
    v.it_interval.tv_sec = interval_ms / 1000;
    v.it_interval.tv_nsec = (interval_ms % 1000) * 1000000L;
    return v;
}

static double secs(struct timespec t) { return t.tv_sec + t.tv_nsec / 1e9; }

static double now_mono(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return secs(t);
}

static const char *code_name(int code)
{
    switch (code) {
    case SI_TIMER: return "SI_TIMER";
    case SI_USER: return "SI_USER";
    case SI_TKILL: return "SI_TKILL";
    case SI_KERNEL: return "SI_KERNEL";
    }
    return "other";
}

static volatile sig_atomic_t hits, h_code, h_overrun, h_timerid, h_value, h_getoverrun, h_tid_ok;
static volatile int h_target_tid;
static int h_timer;

static volatile sig_atomic_t first_overrun, first_getoverrun;

static void on_timer(int sig, siginfo_t *si, void *uc)
{
    (void)sig; (void)uc;
    if (hits == 0) {
        first_overrun = si->si_overrun;
        first_getoverrun = (int)t_getoverrun(h_timer);
    }
    hits++;
    h_code = si->si_code;
    h_overrun = si->si_overrun;
    h_timerid = si->si_timerid;
    h_value = si->si_value.sival_int;
    h_getoverrun = (int)t_getoverrun(h_timer);
    h_tid_ok = syscall(SYS_gettid) == h_target_tid;
}

static void handle(int sig, int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_timer;
    sa.sa_flags = SA_SIGINFO | flags;
    sigaction(sig, &sa, NULL);
}

static void block(int sig, int how)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, sig);
    sigprocmask(how, &s, NULL);
}

static void *thread_wait(void *arg)
{
    (void)arg;
    h_target_tid = syscall(SYS_gettid);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR2);
    siginfo_t si;
    int sig = sigwaitinfo(&s, &si);
    return (void *)(long)(sig == SIGUSR2 && si.si_code == SI_TIMER ? 1 : 0);
}

static volatile sig_atomic_t cb_runs;
static pthread_t main_thread;
static volatile int cb_other_thread;
static void callback(union sigval v)
{
    if (v.sival_int == 77) cb_runs++;
    cb_other_thread = !pthread_equal(pthread_self(), main_thread);
}

/* Burns CPU time until `sig` is pending (blocked) or, with sig 0, until
 * *flag is set; gives up after 10 s of wall time. Returns whether it came. */
static int spin_for(int sig, volatile sig_atomic_t *flag)
{
    double t0 = now_mono();
    sigset_t s;
    while (now_mono() - t0 < 10) {
        for (volatile int i = 0; i < 100000; i++) {}
        if (sig == 0) {
            if (*flag) return 1;
            continue;
        }
        sigpending(&s);
        if (sigismember(&s, sig)) return 1;
    }
    return 0;
}

static volatile sig_atomic_t spin_stop;
static void *spinner(void *arg)
{
    (void)arg;
    spin_for(0, &spin_stop);
    return NULL;
}

static volatile sig_atomic_t itimer_hits;
static void on_itimer(int sig) { (void)sig; itimer_hits++; }

static void cpu_timers(char *self)
{
    int id, id2;
    struct sigevent ev;
    struct itimerspec cur, v;
    siginfo_t si;
    sigset_t set;
    int sig;

    /* --- the process's CPU time, to a handler ----------------------------- */
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGRTMIN + 2;
    ev.sigev_value.sival_int = 11;
    handle(SIGRTMIN + 2, 0);
    VAL("timer_create CLOCK_PROCESS_CPUTIME_ID", t_create(CLOCK_PROCESS_CPUTIME_ID, &ev, &id));
    h_timer = id;
    h_target_tid = syscall(SYS_gettid);
    hits = 0;
    v = its(20, 0);
    VAL("  timer_settime 20ms", t_settime(id, 0, &v, NULL));
    VAL("  timer_gettime", t_gettime(id, &cur));
    YESNO("  remaining in (0, 20ms]", secs(cur.it_value) > 0 && secs(cur.it_value) <= 0.02);
    printf("  interval %ld.%09ld\n", (long)cur.it_interval.tv_sec, cur.it_interval.tv_nsec);
    YESNO("  fired on a busy loop", spin_for(0, &hits));
    printf("  code %s value %d overrun %d, timerid matches: %s, this thread: %s\n",
           code_name(h_code), (int)h_value, (int)h_overrun, h_timerid == id ? "yes" : "no",
           h_tid_ok ? "yes" : "no");
    VAL("  timer_getoverrun", t_getoverrun(id));
    t_gettime(id, &cur);
    printf("  after it fired: value %ld.%09ld\n", (long)cur.it_value.tv_sec, cur.it_value.tv_nsec);
    /* A second timer on a wall clock gets an id of its own. */
    t_create(CLOCK_MONOTONIC, &ev, &id2);
    YESNO("  a MONOTONIC timer's id differs", id2 != id);
    t_delete(id2);
    VAL("  timer_delete", t_delete(id));
    VAL("  timer_delete again", t_delete(id));
    VAL("  timer_gettime deleted", t_gettime(id, &cur));
    signal(SIGRTMIN + 2, SIG_DFL);

    /* --- the thread's CPU time, SIGEV_THREAD_ID to itself, sigwaitinfo ---- */
    block(SIGUSR1, SIG_BLOCK);
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_THREAD_ID;
    ev.sigev_signo = SIGUSR1;
    ev.sigev_value.sival_int = 12;
    ev.sigev_notify_thread_id = syscall(SYS_gettid);
    VAL("timer_create CLOCK_THREAD_CPUTIME_ID SIGEV_THREAD_ID", t_create(CLOCK_THREAD_CPUTIME_ID, &ev, &id));
    v = its(20, 0);
    t_settime(id, 0, &v, NULL);
    YESNO("  pending after a busy loop", spin_for(SIGUSR1, NULL));
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sig = sigwaitinfo(&set, &si);
    printf("  sigwaitinfo: %s code %s value %d, timerid matches: %s\n", signame(sig),
           code_name(si.si_code), si.si_value.sival_int, si.si_timerid == id ? "yes" : "no");
    /* Periodic: timer_gettime shows the interval. */
    v = its(1000, 500);
    struct itimerspec old;
    VAL("  re-arm 1s every 0.5s", t_settime(id, 0, &v, &old));
    printf("  old value %ld.%09ld\n", (long)old.it_value.tv_sec, old.it_value.tv_nsec);
    t_gettime(id, &cur);
    YESNO("  remaining in (0, 1s]", secs(cur.it_value) > 0 && secs(cur.it_value) <= 1);
    printf("  interval %ld.%09ld\n", (long)cur.it_interval.tv_sec, cur.it_interval.tv_nsec);
    VAL("  timer_delete", t_delete(id));
    block(SIGUSR1, SIG_UNBLOCK);

    /* --- clock_getcpuclockid(getpid()), no sigevent, read by signalfd ------ */
    {
        clockid_t c;
        printf("clock_getcpuclockid(getpid()): %s\n", errname(clock_getcpuclockid(getpid(), &c)));
        block(SIGALRM, SIG_BLOCK);
        VAL("  timer_create with no sigevent", t_create(c, NULL, &id));
        v = its(20, 0);
        t_settime(id, 0, &v, NULL);
        YESNO("  SIGALRM pending after a busy loop", spin_for(SIGALRM, NULL));
        sigemptyset(&set);
        sigaddset(&set, SIGALRM);
        int sfd = signalfd(-1, &set, 0);
        struct signalfd_siginfo ssi;
        memset(&ssi, 0, sizeof ssi);
        long n = read(sfd, &ssi, sizeof ssi);
        printf("  signalfd read %ld: %s code %s, ssi_tid is the id: %s, ssi_int too: %s, overrun %u\n",
               n, signame(ssi.ssi_signo), code_name(ssi.ssi_code), (int)ssi.ssi_tid == id ? "yes" : "no",
               ssi.ssi_int == id ? "yes" : "no", ssi.ssi_overrun);
        close(sfd);
        t_delete(id);
        block(SIGALRM, SIG_UNBLOCK);
    }

    /* --- another thread's clock (pthread_getcpuclockid) -------------------- */
    {
        clockid_t c;
        pthread_t th;
        struct timespec ten = {10, 0};
        block(SIGRTMIN + 3, SIG_BLOCK);
        spin_stop = 0;
        pthread_create(&th, NULL, spinner, NULL);
        printf("pthread_getcpuclockid(thread): %s\n", errname(pthread_getcpuclockid(th, &c)));
        memset(&ev, 0, sizeof ev);
        ev.sigev_notify = SIGEV_SIGNAL;
        ev.sigev_signo = SIGRTMIN + 3;
        ev.sigev_value.sival_int = 13;
        VAL("  timer_create on it", t_create(c, &ev, &id));
        v = its(20, 0);
        t_settime(id, 0, &v, NULL);
        sigemptyset(&set);
        sigaddset(&set, SIGRTMIN + 3);
        sig = sigtimedwait(&set, &si, &ten);
        printf("  sigtimedwait: %s code %s value %d, timerid matches: %s\n",
               sig > 0 ? "SIGRTMIN+3" : errname(errno), code_name(si.si_code),
               si.si_value.sival_int, si.si_timerid == id ? "yes" : "no");
        spin_stop = 1;
        pthread_join(th, NULL);
        VAL("  timer_delete", t_delete(id));
        block(SIGRTMIN + 3, SIG_UNBLOCK);
    }

    /* --- another process's CPU clock -------------------------------------- */
    {
        clockid_t c;
        struct timespec ten = {10, 0};
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) { for (;;) {} }
        clock_getcpuclockid(pid, &c);
        block(SIGUSR2, SIG_BLOCK);
        memset(&ev, 0, sizeof ev);
        ev.sigev_notify = SIGEV_SIGNAL;
        ev.sigev_signo = SIGUSR2;
        VAL("timer_create on a child's CPU clock", t_create(c, &ev, &id));
        v = its(20, 0);
        t_settime(id, 0, &v, NULL);
        sigemptyset(&set);
        sigaddset(&set, SIGUSR2);
        sig = sigtimedwait(&set, &si, &ten);
        printf("  sigtimedwait: %s code %s, timerid matches: %s\n",
               sig > 0 ? signame(sig) : errname(errno), code_name(si.si_code),
               si.si_timerid == id ? "yes" : "no");
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        VAL("  timer_gettime after the child was reaped", t_gettime(id, &cur));
        VAL("  timer_delete", t_delete(id));
        block(SIGUSR2, SIG_UNBLOCK);

        /* bad input */
        VAL("timer_create on a reaped child's CPU clock", t_create(c, &ev, &id));
        VAL("timer_create on a reaped child's thread clock", t_create((~pid << 3) | 6, &ev, &id));
        fflush(stdout);
        pid = fork();
        if (pid == 0) { pause(); _exit(0); }
        VAL("timer_create on another process's thread clock", t_create((~pid << 3) | 6, &ev, &id));
        ev.sigev_notify = SIGEV_THREAD_ID;
        ev.sigev_notify_thread_id = pid;
        VAL("CPU timer, SIGEV_THREAD_ID naming another process", t_create(CLOCK_PROCESS_CPUTIME_ID, &ev, &id));
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        ev.sigev_notify = 99;
        VAL("CPU timer, bad sigev_notify", t_create(CLOCK_PROCESS_CPUTIME_ID, &ev, &id));
        ev.sigev_notify = SIGEV_SIGNAL;
        ev.sigev_signo = 65;
        VAL("CPU timer, signal 65", t_create(CLOCK_THREAD_CPUTIME_ID, &ev, &id));
        ev.sigev_signo = SIGUSR2;
        VAL("CPU timer, bad id pointer", t_create(CLOCK_PROCESS_CPUTIME_ID, &ev, (void *)8));
        VAL("CPU timer, bad sigevent pointer", t_create(CLOCK_PROCESS_CPUTIME_ID, (void *)8, &id));
        VAL("CPU timer, reaped pid and bad id pointer", t_create(c, &ev, (void *)8));
        VAL("timer_create on a clock device (fd 0)", t_create((clockid_t)(~0u << 3) | 3, &ev, &id));
        VAL("timer_create on clock -1 (which=3)", t_create(-1, &ev, &id));
        VAL("CPU timer", t_create(CLOCK_THREAD_CPUTIME_ID, &ev, &id));
        VAL("  timer_settime NULL value", t_settime(id, 0, NULL, NULL));
        VAL("  timer_settime bad pointer", t_settime(id, 0, (void *)8, NULL));
        v = its(10, 0);
        v.it_value.tv_nsec = 1000000000L;
        VAL("  timer_settime nsec 1e9", t_settime(id, 0, &v, NULL));
        VAL("  timer_gettime bad pointer", t_gettime(id, (void *)8));
        v = its(0, 0);
        VAL("  timer_settime bad old pointer", t_settime(id, 0, &v, (void *)8));
        VAL("  timer_getoverrun", t_getoverrun(id));
        VAL("  timer_delete", t_delete(id));
    }

    /* --- setitimer's CPU-time timers --------------------------------------- */
    {
        struct itimerval iv;
        memset(&iv, 0, sizeof iv);
        iv.it_value.tv_usec = 20000;
        signal(SIGPROF, on_itimer);
        itimer_hits = 0;
        VAL("setitimer ITIMER_PROF 20ms", setitimer(ITIMER_PROF, &iv, NULL));
        YESNO("  SIGPROF on a busy loop", spin_for(0, &itimer_hits));
        signal(SIGVTALRM, on_itimer);
        itimer_hits = 0;
        VAL("setitimer ITIMER_VIRTUAL 20ms", setitimer(ITIMER_VIRTUAL, &iv, NULL));
        YESNO("  SIGVTALRM on a busy loop", spin_for(0, &itimer_hits));
        signal(SIGPROF, SIG_DFL);
        signal(SIGVTALRM, SIG_DFL);
    }

    /* --- clock_nanosleep on CPU clocks ------------------------------------- */
    {
        struct timespec ts = {0, 1000000};
        clockid_t c;
        printf("clock_nanosleep CLOCK_THREAD_CPUTIME_ID: %s\n",
               errname(clock_nanosleep(CLOCK_THREAD_CPUTIME_ID, 0, &ts, NULL)));
        pthread_getcpuclockid(pthread_self(), &c);
        printf("clock_nanosleep on this thread's clock by tid: %s\n",
               errname(clock_nanosleep(c, 0, &ts, NULL)));
        clock_getcpuclockid(getpid(), &c);
        printf("clock_nanosleep on this process's clock by pid, TIMER_ABSTIME 0: %s\n",
               errname(clock_nanosleep(c, TIMER_ABSTIME, &(struct timespec){0, 0}, NULL)));
    }

    /* --- exec deletes them -------------------------------------------------- */
    {
        char buf[16];
        memset(&ev, 0, sizeof ev);
        ev.sigev_notify = SIGEV_NONE;
        t_create(CLOCK_PROCESS_CPUTIME_ID, &ev, &id);
        v = its(10000, 0);
        t_settime(id, 0, &v, NULL);
        snprintf(buf, sizeof buf, "%d", id);
        char *av[] = {self, "--after-exec", buf, NULL};
        fflush(stdout);
        execv(self, av);
        printf("execv failed: %s\n", errname(errno));
    }
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 3 && strcmp(argv[1], "--after-exec") == 0) {
        struct itimerspec cur;
        VAL("after exec: timer_gettime of the CPU timer", t_gettime(atoi(argv[2]), &cur));
        printf("done\n");
        return 0;
    }
    int id;
    struct sigevent ev;
    struct itimerspec cur, v;
    siginfo_t si;
    sigset_t set;

    /* --- one shot, taken with sigwaitinfo ------------------------------- */
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGUSR1;
    ev.sigev_value.sival_int = 42;
    VAL("timer_create MONOTONIC SIGUSR1", t_create(CLOCK_MONOTONIC, &ev, &id));
    block(SIGUSR1, SIG_BLOCK);
    v = its(20, 0);
    double t0 = now_mono();
    VAL("timer_settime 20ms", t_settime(id, 0, &v, NULL));
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    int sig = sigwaitinfo(&set, &si);
    double waited = now_mono() - t0;
    printf("sigwaitinfo: %s code %s value %d overrun %d, timerid matches: %s\n", signame(sig),
           code_name(si.si_code), si.si_value.sival_int, si.si_overrun,
           si.si_timerid == id ? "yes" : "no");
    YESNO("  waited at least 15ms", waited >= 0.015);
    VAL("  timer_gettime after it fired", t_gettime(id, &cur));
    printf("  value %ld.%09ld interval %ld.%09ld\n", (long)cur.it_value.tv_sec,
           cur.it_value.tv_nsec, (long)cur.it_interval.tv_sec, cur.it_interval.tv_nsec);
    VAL("  timer_getoverrun", t_getoverrun(id));

    /* --- timer_gettime of an armed timer, and disarming ----------------- */
    v = its(10000, 2500);
    struct itimerspec old;
    VAL("arm 10s every 2.5s", t_settime(id, 0, &v, &old));
    printf("  old value %ld.%09ld\n", (long)old.it_value.tv_sec, old.it_value.tv_nsec);
    t_gettime(id, &cur);
    YESNO("  gettime value in (9s, 10s]", secs(cur.it_value) > 9 && secs(cur.it_value) <= 10);
    printf("  gettime interval %ld.%09ld\n", (long)cur.it_interval.tv_sec, cur.it_interval.tv_nsec);
    v = its(0, 1000);
    VAL("disarm", t_settime(id, 0, &v, &old));
    YESNO("  old value in (9s, 10s]", secs(old.it_value) > 9 && secs(old.it_value) <= 10);
    printf("  old interval %ld.%09ld\n", (long)old.it_interval.tv_sec, old.it_interval.tv_nsec);
    t_gettime(id, &cur);
    printf("  now value %ld.%09ld interval %ld.%09ld\n", (long)cur.it_value.tv_sec,
           cur.it_value.tv_nsec, (long)cur.it_interval.tv_sec, cur.it_interval.tv_nsec);
    VAL("timer_delete", t_delete(id));
    VAL("timer_delete again", t_delete(id));
    block(SIGUSR1, SIG_UNBLOCK);

    /* --- periodic, with a handler ---------------------------------------- */
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGRTMIN + 1;
    ev.sigev_value.sival_int = 7;
    handle(SIGRTMIN + 1, 0);
    t_create(CLOCK_MONOTONIC, &ev, &id);
    h_timer = id;
    hits = 0;
    v = its(5, 5);
    t_settime(id, 0, &v, NULL);
    while (hits < 3) pause();
    v = its(0, 0);
    t_settime(id, 0, &v, NULL);
    printf("periodic: 3 signals, code %s value %d, timerid matches: %s\n", code_name(h_code),
           (int)h_value, h_timerid == id ? "yes" : "no");

    /* --- overruns while the signal is blocked ---------------------------- */
    block(SIGRTMIN + 1, SIG_BLOCK);
    hits = 0;
    v = its(2, 2);
    t_settime(id, 0, &v, NULL);
    usleep(60000);
    block(SIGRTMIN + 1, SIG_UNBLOCK);
    /* (the timer goes on: later signals may come before the checks) */
    printf("blocked 60ms at 2ms: a signal came: %s\n", hits >= 1 ? "yes" : "no");
    YESNO("  its si_overrun >= 10", first_overrun >= 10);
    YESNO("  timer_getoverrun in the handler equals si_overrun", first_getoverrun == first_overrun);
    v = its(0, 0);
    t_settime(id, 0, &v, NULL);
    t_delete(id);

    /* --- absolute time on CLOCK_REALTIME --------------------------------- */
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGUSR1;
    t_create(CLOCK_REALTIME, &ev, &id);
    block(SIGUSR1, SIG_BLOCK);
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    v.it_interval.tv_sec = v.it_interval.tv_nsec = 0;
    v.it_value = rt;
    v.it_value.tv_nsec += 30000000L;
    if (v.it_value.tv_nsec >= 1000000000L) { v.it_value.tv_sec++; v.it_value.tv_nsec -= 1000000000L; }
    t0 = now_mono();
    VAL("TIMER_ABSTIME now+30ms", t_settime(id, TIMER_ABSTIME, &v, NULL));
    sig = sigwaitinfo(&set, &si);
    waited = now_mono() - t0;
    printf("  got %s, waited at least 25ms: %s\n", signame(sig), waited >= 0.025 ? "yes" : "no");
    v.it_value.tv_sec -= 100;
    VAL("TIMER_ABSTIME in the past", t_settime(id, TIMER_ABSTIME, &v, NULL));
    sig = sigwaitinfo(&set, &si);
    printf("  got %s at once\n", signame(sig));
    t_delete(id);
    block(SIGUSR1, SIG_UNBLOCK);

    /* --- no sigevent: SIGALRM with the id as value ------------------------ */
    block(SIGALRM, SIG_BLOCK);
    VAL("timer_create with no sigevent", t_create(CLOCK_MONOTONIC, NULL, &id));
    v = its(1, 0);
    t_settime(id, 0, &v, NULL);
    sigemptyset(&set);
    sigaddset(&set, SIGALRM);
    sig = sigwaitinfo(&set, &si);
    printf("  got %s, value is the id: %s\n", signame(sig), si.si_value.sival_int == id ? "yes" : "no");
    t_delete(id);
    block(SIGALRM, SIG_UNBLOCK);

    /* --- SIGEV_NONE: counts, never signals -------------------------------- */
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_NONE;
    VAL("SIGEV_NONE timer", t_create(CLOCK_MONOTONIC, &ev, &id));
    v = its(20, 0);
    t_settime(id, 0, &v, NULL);
    t_gettime(id, &cur);
    YESNO("  running: value in (0, 20ms]", secs(cur.it_value) > 0 && secs(cur.it_value) <= 0.02);
    usleep(30000);
    t_gettime(id, &cur);
    printf("  expired: value %ld.%09ld\n", (long)cur.it_value.tv_sec, cur.it_value.tv_nsec);
    v = its(10, 10);
    t_settime(id, 0, &v, NULL);
    usleep(35000);
    t_gettime(id, &cur);
    YESNO("  periodic: value in (0, 10ms]", secs(cur.it_value) > 0 && secs(cur.it_value) <= 0.01);
    t_delete(id);

    /* --- SIGEV_THREAD_ID: to one thread ----------------------------------- */
    block(SIGUSR2, SIG_BLOCK);
    pthread_t th;
    h_target_tid = 0;
    pthread_create(&th, NULL, thread_wait, NULL);
    while (!h_target_tid) usleep(1000);
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_THREAD_ID;
    ev.sigev_signo = SIGUSR2;
    ev.sigev_notify_thread_id = h_target_tid;
    VAL("SIGEV_THREAD_ID timer for a thread", t_create(CLOCK_MONOTONIC, &ev, &id));
    v = its(10, 0);
    t_settime(id, 0, &v, NULL);
    void *res;
    pthread_join(th, &res);
    printf("  the thread took it with SI_TIMER: %s\n", res ? "yes" : "no");
    sigpending(&set);
    YESNO("  nothing pending for the main thread", !sigismember(&set, SIGUSR2));
    t_delete(id);
    block(SIGUSR2, SIG_UNBLOCK);

    /* --- the C library's SIGEV_THREAD ------------------------------------- */
    {
        timer_t t;
        main_thread = pthread_self();
        memset(&ev, 0, sizeof ev);
        ev.sigev_notify = SIGEV_THREAD;
        ev.sigev_notify_function = callback;
        ev.sigev_value.sival_int = 77;
        VAL("timer_create SIGEV_THREAD", timer_create(CLOCK_MONOTONIC, &ev, &t));
        v = its(5, 5);
        timer_settime(t, 0, &v, NULL);
        for (int i = 0; i < 400 && cb_runs < 3; i++) usleep(5000);
        v = its(0, 0);
        timer_settime(t, 0, &v, NULL);
        printf("  callback ran 3 times, on another thread: %s\n",
               cb_runs >= 3 && cb_other_thread ? "yes" : "no");
        VAL("  timer_delete", timer_delete(t));
    }

    /* --- a timer interrupts a blocking read ------------------------------- */
    {
        int p[2];
        char c;
        pipe(p);
        memset(&ev, 0, sizeof ev);
        ev.sigev_notify = SIGEV_SIGNAL;
        ev.sigev_signo = SIGUSR1;
        t_create(CLOCK_MONOTONIC, &ev, &id);
        h_timer = id;
        handle(SIGUSR1, 0);
        hits = 0;
        v = its(20, 0);
        t_settime(id, 0, &v, NULL);
        long r = read(p[0], &c, 1);
        printf("read interrupted by a timer (no SA_RESTART): %ld %s, handler ran %d\n", r,
               errname(r < 0 ? errno : 0), (int)hits);
        handle(SIGUSR1, SA_RESTART);
        hits = 0;
        t_settime(id, 0, &v, NULL);
        if (fork() == 0) {
            usleep(60000);
            write(p[1], "R", 1);
            _exit(0);
        }
        r = read(p[0], &c, 1);
        printf("read with SA_RESTART: %ld [%c], handler ran %d\n", r, r == 1 ? c : '?', (int)hits);
        wait(NULL);
        t_delete(id);
        close(p[0]);
        close(p[1]);
        signal(SIGUSR1, SIG_DFL);
    }

    /* --- fork does not inherit timers ------------------------------------- */
    t_create(CLOCK_MONOTONIC, NULL, &id);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        printf("child: timer_gettime of the parent's timer: %s\n",
               t_gettime(id, &cur) == 0 ? "OK" : errname(errno));
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    t_delete(id);

    /* --- bad input --------------------------------------------------------- */
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGUSR1;
    VAL("timer_create bad clock", t_create(100, &ev, &id));
    VAL("timer_create CLOCK_MONOTONIC_RAW", t_create(CLOCK_MONOTONIC_RAW, &ev, &id));
    VAL("timer_create bad sigevent pointer", t_create(CLOCK_MONOTONIC, (void *)8, &id));
    VAL("timer_create bad id pointer", t_create(CLOCK_MONOTONIC, &ev, (void *)8));
    ev.sigev_signo = 0;
    VAL("timer_create signal 0", t_create(CLOCK_MONOTONIC, &ev, &id));
    ev.sigev_signo = 65;
    VAL("timer_create signal 65", t_create(CLOCK_MONOTONIC, &ev, &id));
    ev.sigev_signo = SIGUSR1;
    ev.sigev_notify = 99;
    VAL("timer_create bad sigev_notify", t_create(CLOCK_MONOTONIC, &ev, &id));
    fflush(stdout);
    pid = fork();
    if (pid == 0) { pause(); _exit(0); }
    ev.sigev_notify = SIGEV_THREAD_ID;
    ev.sigev_notify_thread_id = pid;
    VAL("SIGEV_THREAD_ID naming another process", t_create(CLOCK_MONOTONIC, &ev, &id));
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    ev.sigev_notify = SIGEV_SIGNAL;
    t_create(CLOCK_MONOTONIC, &ev, &id);
    VAL("timer_settime NULL value", t_settime(id, 0, NULL, NULL));
    VAL("timer_settime bad pointer", t_settime(id, 0, (void *)8, NULL));
    v = its(10, 0);
    v.it_value.tv_nsec = 1000000000L;
    VAL("timer_settime nsec 1e9", t_settime(id, 0, &v, NULL));
    v = its(10, 0);
    v.it_interval.tv_sec = -1;
    VAL("timer_settime negative interval", t_settime(id, 0, &v, NULL));
    VAL("timer_settime bad id", t_settime(id + 1000, 0, &v, NULL));
    VAL("timer_gettime bad pointer", t_gettime(id, (void *)8));
    VAL("timer_gettime bad id", t_gettime(-1, &cur));
    VAL("timer_getoverrun bad id", t_getoverrun(id + 1000));
    v = its(0, 0);
    VAL("timer_settime bad old pointer (the set still happens)", t_settime(id, 0, &v, (void *)8));
    VAL("timer_delete", t_delete(id));

    /* --- CPU clocks named by pid: the guest's pids, not the host's ------- */
    {
        clockid_t c;
        struct timespec ts;
        fflush(stdout);
        pid = fork();
        if (pid == 0) { for (;;) pause(); }
        printf("clock_getcpuclockid(child): %s\n", errname(clock_getcpuclockid(pid, &c)));
        VAL("  clock_gettime on it", clock_gettime(c, &ts));
        VAL("  clock_getres on it", clock_getres(c, &ts));
        VAL("  thread clock with the child's pid", clock_gettime((~pid << 3) | 6, &ts));
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        VAL("  clock_gettime after the child was reaped", clock_gettime(c, &ts));
        printf("clock_getcpuclockid(no such pid): %s\n",
               errname(clock_getcpuclockid(4000000, &c)));
        VAL("clock_gettime of pid 1's CPU clock", clock_gettime((int)((unsigned)~1 << 3) | 2, &ts));
        pthread_getcpuclockid(pthread_self(), &c);
        VAL("clock_gettime on this thread's clock by tid", clock_gettime(c, &ts));
        VAL("clock_gettime on a clock device (fd 0)", clock_gettime((~0 << 3) | 3, &ts));
        VAL("clock_gettime on which=3 with a pid", clock_gettime((~1 << 3) | 7, &ts));
    }

    cpu_timers(argv[0]);
    return 1;
}
