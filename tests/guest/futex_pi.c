/* futex_pi: robust mutexes whose owner dies (threads and processes), PI
 * mutexes under contention, the raw PI futex operations with their
 * error cases, and requeueing condition-variable waiters onto a PI futex
 * (FUTEX_WAIT_REQUEUE_PI / FUTEX_CMP_REQUEUE_PI).  Owner-death cases end the owner with a raw exit(2) so the
 * kernel's robust-list walk, not libc's pthread_exit, marks the lock.
 * usage: futex_pi [SCRATCH] */
#include "common.h"
#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>

/* include/uapi/linux/futex.h (musl ships no kernel headers) */
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#define FUTEX_LOCK_PI 6
#define FUTEX_UNLOCK_PI 7
#define FUTEX_TRYLOCK_PI 8
#define FUTEX_WAIT_REQUEUE_PI 11
#define FUTEX_CMP_REQUEUE_PI 12
#define FUTEX_LOCK_PI2 13
#define FUTEX_PRIVATE_FLAG 128
#define FUTEX_CLOCK_REALTIME 256
#define FUTEX_LOCK_PI_PRIVATE (FUTEX_LOCK_PI | FUTEX_PRIVATE_FLAG)
#define FUTEX_UNLOCK_PI_PRIVATE (FUTEX_UNLOCK_PI | FUTEX_PRIVATE_FLAG)
#define FUTEX_WAITERS 0x80000000u
#define FUTEX_OWNER_DIED 0x40000000u
#define FUTEX_TID_MASK 0x3fffffffu

static long futex(void *uaddr, int op, int val, const struct timespec *ts)
{
    return syscall(SYS_futex, uaddr, op, val, ts, NULL, 0);
}

#define FRES(label, expr) do {                                         \
        errno = 0;                                                     \
        long r_ = (expr);                                              \
        printf("%s: %s\n", (label), r_ == -1 ? errname(errno) : "ok"); \
    } while (0)

static pid_t gettid_(void) { return (pid_t)syscall(SYS_gettid); }

/* Absolute time `ms` from now on `clock`. */
static struct timespec in_ms(clockid_t clock, long ms)
{
    struct timespec t;
    clock_gettime(clock, &t);
    t.tv_nsec += ms * 1000000L;
    t.tv_sec += t.tv_nsec / 1000000000L;
    t.tv_nsec %= 1000000000L;
    return t;
}

static void msleep(long ms)
{
    struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&t, NULL);
}

/* Waits until thread `tid` of this process is gone.  A thread ended by a
 * raw exit(2) cannot be joined (musl's join waits for pthread_exit). */
static void wait_gone(pid_t tid)
{
    while (syscall(SYS_tgkill, getpid(), tid, 0) == 0) msleep(1);
}

/* ---- robust mutexes, owner thread dies -------------------------------- */

static pthread_mutex_t robust;
static int hold_ms;
static volatile int locked_flag;
static volatile pid_t owner_tid;

static void *hold_and_die(void *p)
{
    pthread_mutex_t *m = p;
    int r = pthread_mutex_lock(m);
    if (r) printf("owner lock: %s\n", errname(r));
    owner_tid = gettid_();
    locked_flag = 1;
    if (hold_ms) msleep(hold_ms);
    syscall(SYS_exit, 0);   /* no libc cleanup: the kernel's walk */
    return NULL;
}

static void init_mutex(pthread_mutex_t *m, int robust_, int pi, int pshared)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    if (robust_) pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    if (pi) pthread_mutexattr_setprotocol(&a, PTHREAD_PRIO_INHERIT);
    if (pshared) pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    int r = pthread_mutex_init(m, &a);
    if (r) printf("mutex_init: %s\n", errname(r));
    pthread_mutexattr_destroy(&a);
}

static void owner_thread_dies(const char *what, int pi, int wait_first)
{
    printf("-- %s owner thread dies%s\n", what, wait_first ? " while we wait" : "");
    /* process-shared: musl hands the kernel its robust list only for
     * those (a private one's owner can die only through pthread_exit) */
    init_mutex(&robust, 1, pi, 1);
    pthread_t t;
    locked_flag = 0;
    hold_ms = wait_first ? 100 : 0;
    pthread_create(&t, NULL, hold_and_die, &robust);
    while (!locked_flag) msleep(1);
    if (!wait_first) wait_gone(owner_tid);
    int r = pthread_mutex_lock(&robust);
    printf("lock after owner death: %s\n", errname(r));
    if (r == EOWNERDEAD) {
        printf("consistent: %s\n", errname(pthread_mutex_consistent(&robust)));
        printf("unlock: %s\n", errname(pthread_mutex_unlock(&robust)));
        printf("lock again: %s\n", errname(pthread_mutex_lock(&robust)));
        printf("unlock again: %s\n", errname(pthread_mutex_unlock(&robust)));
    }
    if (wait_first) wait_gone(owner_tid);
    pthread_mutex_destroy(&robust);
}

/* ---- robust mutex in shared memory, owner process dies ----------------- */

static void owner_process_dies(int pi)
{
    printf("-- process-shared robust%s mutex, owner process dies\n", pi ? " PI" : "");
    pthread_mutex_t *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) { printf("mmap: %s\n", errname(errno)); return; }
    init_mutex(m, 1, pi, 1);
    int p[2];
    if (pipe(p)) return;
    pid_t c = fork();
    if (c == 0) {
        close(p[0]);
        int r = pthread_mutex_lock(m);
        if (write(p[1], &r, sizeof r) != sizeof r) _exit(3);
        msleep(100);
        _exit(0);   /* dies holding the lock */
    }
    close(p[1]);
    int r = -1;
    if (read(p[0], &r, sizeof r) != sizeof r) printf("child did not report\n");
    printf("child locked: %s\n", errname(r));
    r = pthread_mutex_lock(m);   /* blocks until the child is gone */
    printf("parent lock: %s\n", errname(r));
    if (r == EOWNERDEAD) {
        printf("consistent: %s\n", errname(pthread_mutex_consistent(m)));
        printf("unlock: %s\n", errname(pthread_mutex_unlock(m)));
    }
    int st;
    waitpid(c, &st, 0);
    printf("child: %s\n", wstatus_str(st));
    printf("lock again: %s\n", errname(pthread_mutex_lock(m)));
    printf("unlock again: %s\n", errname(pthread_mutex_unlock(m)));
    close(p[0]);
    munmap(m, 4096);
}

/* ---- PI mutex under contention ---------------------------------------- */

#define NTHREADS 4
#define NITER 20000
static pthread_mutex_t pim;
static long counter;

static void *pi_worker(void *p)
{
    (void)p;
    for (int i = 0; i < NITER; i++) {
        int r = pthread_mutex_lock(&pim);
        if (r) { printf("pi lock: %s\n", errname(r)); return NULL; }
        long c = counter;
        if (i % 1000 == 0) sched_yield();   /* contention, on purpose */
        counter = c + 1;
        pthread_mutex_unlock(&pim);
    }
    return NULL;
}

static void pi_contention(void)
{
    printf("-- PI mutex, %d threads\n", NTHREADS);
    init_mutex(&pim, 0, 1, 0);
    pthread_t t[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) pthread_create(&t[i], NULL, pi_worker, NULL);
    for (int i = 0; i < NTHREADS; i++) pthread_join(t[i], NULL);
    printf("counter: %ld (expected %d)\n", counter, NTHREADS * NITER);
    printf("trylock: %s\n", errname(pthread_mutex_trylock(&pim)));
    printf("trylock again: %s\n", errname(pthread_mutex_trylock(&pim)));
    printf("unlock: %s\n", errname(pthread_mutex_unlock(&pim)));
}

/* ---- raw PI futex operations ------------------------------------------- */

static unsigned word;
static volatile int helper_go, helper_has_it, helper_exit_holding;
static pid_t helper_tid;
static long helper_unlock_ret;
static int helper_unlock_err;

static void *helper(void *p)
{
    (void)p;
    helper_tid = gettid_();
    FRES("helper trylock_pi", futex(&word, FUTEX_TRYLOCK_PI, 0, NULL));
    helper_has_it = 1;
    while (!helper_go) msleep(1);
    msleep(50);
    if (helper_exit_holding) syscall(SYS_exit, 0);
    /* Printed by the joiner: the waiter it hands the lock to may print
     * before this thread could. */
    errno = 0;
    helper_unlock_ret = futex(&word, FUTEX_UNLOCK_PI, 0, NULL);
    helper_unlock_err = errno;
    return NULL;
}

static pthread_t start_helper(int exit_holding)
{
    pthread_t t;
    word = 0;
    helper_go = helper_has_it = 0;
    helper_exit_holding = exit_holding;
    pthread_create(&t, NULL, helper, NULL);
    while (!helper_has_it) msleep(1);
    return t;
}

static void raw_ops(void)
{
    printf("-- raw PI futex operations\n");
    pid_t me = gettid_();
    word = 0;
    FRES("trylock_pi free", futex(&word, FUTEX_TRYLOCK_PI, 0, NULL));
    YESNO("  owner is me", word == (unsigned)me);
    FRES("lock_pi own", futex(&word, FUTEX_LOCK_PI, 0, NULL));
    FRES("trylock_pi own", futex(&word, FUTEX_TRYLOCK_PI, 0, NULL));
    FRES("unlock_pi", futex(&word, FUTEX_UNLOCK_PI, 0, NULL));
    YESNO("  word is 0", word == 0);
    FRES("unlock_pi free", futex(&word, FUTEX_UNLOCK_PI, 0, NULL));
    FRES("lock_pi private free", futex(&word, FUTEX_LOCK_PI_PRIVATE, 0, NULL));
    FRES("unlock_pi private", futex(&word, FUTEX_UNLOCK_PI_PRIVATE, 0, NULL));

    word = FUTEX_OWNER_DIED;
    FRES("lock_pi owner-died", futex(&word, FUTEX_LOCK_PI, 0, NULL));
    YESNO("  owner is me, owner-died kept",
          word == ((unsigned)me | FUTEX_OWNER_DIED));
    FRES("unlock_pi", futex(&word, FUTEX_UNLOCK_PI, 0, NULL));
    YESNO("  word is 0", word == 0);

    word = 0x3ffffff0;   /* no thread has this id */
    FRES("lock_pi dead owner", futex(&word, FUTEX_LOCK_PI, 0, NULL));
    YESNO("  waiters bit set", word == (0x3ffffff0u | FUTEX_WAITERS));
    word = 0x3ffffff0;
    FRES("trylock_pi dead owner", futex(&word, FUTEX_TRYLOCK_PI, 0, NULL));
    FRES("unlock_pi not owner", futex(&word, FUTEX_UNLOCK_PI, 0, NULL));

    FRES("lock_pi bad address", futex((void *)8, FUTEX_LOCK_PI, 0, NULL));
    FRES("trylock_pi bad address", futex((void *)8, FUTEX_TRYLOCK_PI, 0, NULL));
    FRES("unlock_pi bad address", futex((void *)8, FUTEX_UNLOCK_PI, 0, NULL));
    static unsigned pair[2];
    FRES("lock_pi unaligned", futex((char *)pair + 1, FUTEX_LOCK_PI, 0, NULL));
    struct timespec bad = { 0, 2000000000L };
    word = 0;
    FRES("lock_pi bad timeout", futex(&word, FUTEX_LOCK_PI, 0, &bad));
    FRES("lock_pi timeout fault", futex(&word, FUTEX_LOCK_PI, 0, (void *)8));
    FRES("lock_pi clock_realtime", futex(&word, FUTEX_LOCK_PI | FUTEX_CLOCK_REALTIME, 0, NULL));
    FRES("trylock_pi clock_realtime", futex(&word, FUTEX_TRYLOCK_PI | FUTEX_CLOCK_REALTIME, 0, NULL));
    FRES("unlock_pi clock_realtime", futex(&word, FUTEX_UNLOCK_PI | FUTEX_CLOCK_REALTIME, 0, NULL));
    FRES("op 99", futex(&word, 99, 0, NULL));
    YESNO("  word untouched", word == 0);

    /* Another live thread owns it. */
    pthread_t t = start_helper(0);
    YESNO("helper owns it", word == (unsigned)helper_tid);
    FRES("unlock_pi of helper's lock", futex(&word, FUTEX_UNLOCK_PI, 0, NULL));
    FRES("trylock_pi owned", futex(&word, FUTEX_TRYLOCK_PI, 0, NULL));
    YESNO("  waiters bit set", word == ((unsigned)helper_tid | FUTEX_WAITERS));
    struct timespec at = in_ms(CLOCK_REALTIME, 30);
    FRES("lock_pi timeout", futex(&word, FUTEX_LOCK_PI, 0, &at));
    at = in_ms(CLOCK_MONOTONIC, 30);
    FRES("lock_pi2 monotonic timeout", futex(&word, FUTEX_LOCK_PI2, 0, &at));
    at = in_ms(CLOCK_REALTIME, 30);
    FRES("lock_pi2 realtime timeout",
         futex(&word, FUTEX_LOCK_PI2 | FUTEX_CLOCK_REALTIME, 0, &at));
    at.tv_sec -= 10;
    FRES("lock_pi past timeout", futex(&word, FUTEX_LOCK_PI, 0, &at));
    /* Blocks until the helper unlocks: the lock is handed over. */
    helper_go = 1;
    FRES("lock_pi contended", futex(&word, FUTEX_LOCK_PI, 0, NULL));
    YESNO("  handed to me, waiters bit set", word == ((unsigned)me | FUTEX_WAITERS));
    pthread_join(t, NULL);
    printf("helper unlock_pi: %s\n", helper_unlock_ret == -1 ? errname(helper_unlock_err) : "ok");
    FRES("unlock_pi", futex(&word, FUTEX_UNLOCK_PI, 0, NULL));
    YESNO("  word is 0", word == 0);

    /* The owner exits holding it while we wait: we get it. */
    t = start_helper(1);
    helper_go = 1;
    FRES("lock_pi, owner exits", futex(&word, FUTEX_LOCK_PI, 0, NULL));
    YESNO("  handed to me, waiters and owner-died bits set",
          word == ((unsigned)me | FUTEX_WAITERS | FUTEX_OWNER_DIED));
    wait_gone(helper_tid);
    FRES("unlock_pi", futex(&word, FUTEX_UNLOCK_PI, 0, NULL));

    /* The owner exited holding it, nobody waited: the tid names no one. */
    t = start_helper(1);
    helper_go = 1;
    wait_gone(helper_tid);
    FRES("lock_pi, owner gone", futex(&word, FUTEX_LOCK_PI, 0, NULL));
    FRES("trylock_pi, owner gone", futex(&word, FUTEX_TRYLOCK_PI, 0, NULL));
}

/* ---- requeue to a PI futex ---------------------------------------------- */

/* cv is a condition variable's plain word, cvlock its PI mutex. */
static unsigned cv, cvlock, cvlock2;

/* futex(2) with all six arguments; `val2` travels in the timeout's place. */
static long futex6(void *uaddr, int op, int val, long val2, void *uaddr2, int val3)
{
    return syscall(SYS_futex, uaddr, op, val, val2, uaddr2, val3);
}

static long cmp_requeue_pi(int nr_wake, long nr_requeue, void *uaddr2, int val)
{
    return futex6(&cv, FUTEX_CMP_REQUEUE_PI, nr_wake, nr_requeue, uaddr2, val);
}

struct rq_waiter {
    pthread_t t;
    volatile pid_t tid;
    int flags;                  /* FUTEX_CLOCK_REALTIME or 0 */
    const struct timespec *ts;
    volatile int done;
    long ret;
    int err;
    int owned, waiters_bit;     /* the PI word as the wait returned */
    long unlock_ret;
    int unlock_err;
};

static void *rq_wait(void *p)
{
    struct rq_waiter *w = p;
    w->tid = gettid_();
    errno = 0;
    w->ret = syscall(SYS_futex, &cv, FUTEX_WAIT_REQUEUE_PI | w->flags, 0, w->ts, &cvlock, 0);
    w->err = w->ret == -1 ? errno : 0;
    unsigned word = cvlock;
    w->owned = (word & FUTEX_TID_MASK) == (unsigned)w->tid;
    w->waiters_bit = (word & FUTEX_WAITERS) != 0;
    if (w->ret == 0) {
        errno = 0;
        w->unlock_ret = futex(&cvlock, FUTEX_UNLOCK_PI, 0, NULL);
        w->unlock_err = errno;
    }
    w->done = 1;
    return NULL;
}

static void start_rq(struct rq_waiter *w, int flags, const struct timespec *ts)
{
    memset(w, 0, sizeof *w);
    w->flags = flags;
    w->ts = ts;
    pthread_create(&w->t, NULL, rq_wait, w);
}

/* Joins a waiter and prints what its wait returned. */
static void report_rq(const char *label, struct rq_waiter *w, int show_bit)
{
    pthread_join(w->t, NULL);
    printf("%s: %s\n", label, w->ret == -1 ? errname(w->err) : w->ret == 0 ? "ok" : "?");
    YESNO("  owned the PI word", w->owned);
    if (show_bit) YESNO("  waiters bit", w->waiters_bit);
    if (w->ret == 0)
        printf("  its unlock_pi: %s\n", w->unlock_ret == -1 ? errname(w->unlock_err) : "ok");
}

/* Until a requeue-PI waiter sleeps on cv: a requeue to a word it did not
 * name fails with EINVAL and moves nobody. */
static void wait_asleep(void)
{
    while (!(cmp_requeue_pi(1, 0, &cvlock2, 0) == -1 && errno == EINVAL)) msleep(1);
}

/* CMP_REQUEUE_PI, again while it finds nobody asleep (returns 0). */
static long requeue_when_asleep(long nr_requeue, struct rq_waiter *w)
{
    long r;
    while ((r = cmp_requeue_pi(1, nr_requeue, &cvlock, 0)) == 0 && !(w && w->done)) msleep(1);
    return r;
}

static volatile int usr1_seen;
static void on_usr1(int s) { (void)s; usr1_seen = 1; }

static void *plain_wait(void *p)
{
    (void)p;
    futex(&cv, FUTEX_WAIT, 0, NULL);
    return NULL;
}

static void *lock_then_wait(void *p)
{
    struct rq_waiter *w = p;
    w->tid = gettid_();
    futex(&cvlock, FUTEX_LOCK_PI, 0, NULL);
    errno = 0;
    w->ret = syscall(SYS_futex, &cv, FUTEX_WAIT_REQUEUE_PI, 0, w->ts, &cvlock, 0);
    w->err = w->ret == -1 ? errno : 0;
    w->owned = (cvlock & FUTEX_TID_MASK) == (unsigned)w->tid;
    futex(&cvlock, FUTEX_UNLOCK_PI, 0, NULL);
    w->done = 1;
    return NULL;
}

static void requeue_pi(void)
{
    printf("-- requeue to a PI futex\n");
    pid_t me = gettid_();
    cv = cvlock = cvlock2 = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;   /* no SA_RESTART */
    sigaction(SIGUSR1, &sa, NULL);

    /* Bad input, nobody waiting. */
    VAL("cmp_requeue_pi, no waiters", cmp_requeue_pi(1, 1, &cvlock, 0));
    YESNO("  PI word untouched", cvlock == 0);
    VAL("cmp_requeue_pi, value differs", cmp_requeue_pi(1, 1, &cvlock, 1));
    VAL("cmp_requeue_pi nr_wake 0", cmp_requeue_pi(0, 1, &cvlock, 0));
    VAL("cmp_requeue_pi nr_wake 2", cmp_requeue_pi(2, 1, &cvlock, 0));
    VAL("cmp_requeue_pi nr_requeue -1", cmp_requeue_pi(1, -1, &cvlock, 0));
    VAL("cmp_requeue_pi to itself", cmp_requeue_pi(1, 1, &cv, 0));
    VAL("cmp_requeue_pi clock_realtime",
        futex6(&cv, FUTEX_CMP_REQUEUE_PI | FUTEX_CLOCK_REALTIME, 1, 1, &cvlock, 0));
    VAL("cmp_requeue_pi bad address",
        futex6((void *)8, FUTEX_CMP_REQUEUE_PI, 1, 1, &cvlock, 0));
    VAL("cmp_requeue_pi bad PI address",
        futex6(&cv, FUTEX_CMP_REQUEUE_PI | FUTEX_PRIVATE_FLAG, 1, 1, (void *)8, 0));
    VAL("cmp_requeue_pi unaligned PI address",
        cmp_requeue_pi(1, 1, (char *)&cvlock2 + 1, 0));
    RES("wait_requeue_pi, value differs",
        futex6(&cv, FUTEX_WAIT_REQUEUE_PI, 1, 0, &cvlock, 0));
    RES("wait_requeue_pi on itself", futex6(&cv, FUTEX_WAIT_REQUEUE_PI, 0, 0, &cv, 0));
    RES("wait_requeue_pi bad address",
        futex6((void *)8, FUTEX_WAIT_REQUEUE_PI, 0, 0, &cvlock, 0));
    RES("wait_requeue_pi bad PI address",
        futex6(&cv, FUTEX_WAIT_REQUEUE_PI, 0, 0, (void *)8, 0));
    RES("wait_requeue_pi unaligned",
        futex6((char *)&cvlock2 + 1, FUTEX_WAIT_REQUEUE_PI, 0, 0, &cvlock, 0));
    RES("wait_requeue_pi timeout fault",
        futex6(&cv, FUTEX_WAIT_REQUEUE_PI, 0, 8, &cvlock, 0));
    struct timespec bad = { 0, 2000000000L };
    RES("wait_requeue_pi bad timeout",
        futex6(&cv, FUTEX_WAIT_REQUEUE_PI, 0, (long)&bad, &cvlock, 0));
    struct timespec at = in_ms(CLOCK_MONOTONIC, 30);
    RES("wait_requeue_pi monotonic timeout",
        futex6(&cv, FUTEX_WAIT_REQUEUE_PI, 0, (long)&at, &cvlock, 0));
    at = in_ms(CLOCK_REALTIME, 30);
    RES("wait_requeue_pi realtime timeout",
        futex6(&cv, FUTEX_WAIT_REQUEUE_PI | FUTEX_CLOCK_REALTIME, 0, (long)&at, &cvlock, 0));
    at.tv_sec -= 10;
    RES("wait_requeue_pi past timeout",
        futex6(&cv, FUTEX_WAIT_REQUEUE_PI | FUTEX_CLOCK_REALTIME, 0, (long)&at, &cvlock, 0));
    YESNO("  words untouched", cv == 0 && cvlock == 0);

    /* Signalling a waiter while the mutex is free: it wakes owning it. */
    struct rq_waiter w[3];
    start_rq(&w[0], 0, NULL);
    wait_asleep();
    VAL("requeue to a word the waiter did not name", cmp_requeue_pi(1, 1, &cvlock2, 0));
    VAL("requeue, mutex free, nr_requeue 0", cmp_requeue_pi(1, 0, &cvlock, 0));
    report_rq("waiter", &w[0], 1);
    YESNO("  PI word is 0", cvlock == 0);
    start_rq(&w[0], 0, NULL);
    wait_asleep();
    VAL("requeue, mutex free, nr_requeue 1", cmp_requeue_pi(1, 1, &cvlock, 0));
    report_rq("waiter", &w[0], 1);
    YESNO("  PI word is 0", cvlock == 0);

    /* The mutex is held: waiters move to its queue one by one, and each
     * unlock hands it to the next. */
    RES("lock_pi the mutex", futex(&cvlock, FUTEX_LOCK_PI, 0, NULL));
    for (int i = 0; i < 3; i++) {
        start_rq(&w[i], 0, NULL);
        printf("requeue, mutex held, waiter %d: %ld\n", i, requeue_when_asleep(1, NULL));
    }
    YESNO("  PI word is mine with waiters", cvlock == ((unsigned)me | FUTEX_WAITERS));
    YESNO("  none returned yet", !w[0].done && !w[1].done && !w[2].done);
    RES("unlock_pi the mutex", futex(&cvlock, FUTEX_UNLOCK_PI, 0, NULL));
    for (int i = 0; i < 3; i++) report_rq("waiter", &w[i], 1);
    YESNO("  PI word is 0", cvlock == 0);

    /* Three waiters at once, signalled until all are out; whichever way
     * each goes (woken owning it, or requeued), each returns owning it. */
    for (int i = 0; i < 3; i++) start_rq(&w[i], 0, NULL);
    long total = 0;
    while (total < 3) {
        long r = cmp_requeue_pi(1, INT_MAX, &cvlock, 0);
        if (r < 0) { printf("cmp_requeue_pi: %s\n", errname(errno)); break; }
        total += r;
        if (r == 0) msleep(1);
    }
    printf("three waiters, woken or requeued: %ld\n", total);
    for (int i = 0; i < 3; i++) report_rq("waiter", &w[i], 0);
    YESNO("  PI word is 0", cvlock == 0);

    /* A signal before the requeue: the wait resumes after the handler. */
    usr1_seen = 0;
    start_rq(&w[0], 0, NULL);
    wait_asleep();
    pthread_kill(w[0].t, SIGUSR1);
    while (!usr1_seen) msleep(1);
    wait_asleep();
    VAL("requeue after a signal", cmp_requeue_pi(1, 0, &cvlock, 0));
    report_rq("waiter", &w[0], 0);
    YESNO("  handler ran", usr1_seen);

    /* A signal after the requeue: EAGAIN, without the mutex. */
    usr1_seen = 0;
    RES("lock_pi the mutex", futex(&cvlock, FUTEX_LOCK_PI, 0, NULL));
    start_rq(&w[0], 0, NULL);
    VAL("requeue, mutex held", requeue_when_asleep(1, NULL));
    pthread_kill(w[0].t, SIGUSR1);
    report_rq("waiter signalled in the mutex's queue", &w[0], 0);
    YESNO("  handler ran", usr1_seen);
    RES("unlock_pi the mutex", futex(&cvlock, FUTEX_UNLOCK_PI, 0, NULL));
    YESNO("  PI word is 0", cvlock == 0);

    /* A timeout in the mutex's queue (or before the requeue: the same). */
    RES("lock_pi the mutex", futex(&cvlock, FUTEX_LOCK_PI, 0, NULL));
    at = in_ms(CLOCK_MONOTONIC, 100);
    start_rq(&w[0], 0, &at);
    requeue_when_asleep(1, &w[0]);
    report_rq("waiter with a timeout", &w[0], 0);
    RES("unlock_pi the mutex", futex(&cvlock, FUTEX_UNLOCK_PI, 0, NULL));
    YESNO("  PI word is 0", cvlock == 0);

    /* A waiter that owns the PI futex itself. */
    at = in_ms(CLOCK_MONOTONIC, 500);
    memset(&w[0], 0, sizeof w[0]);
    w[0].ts = &at;
    pthread_create(&w[0].t, NULL, lock_then_wait, &w[0]);
    long r;
    while ((r = cmp_requeue_pi(1, 0, &cvlock, 0)) == 0 && !w[0].done) msleep(1);
    printf("requeue to the waiter's own mutex: %s\n", r == -1 ? errname(errno) : "?");
    pthread_join(w[0].t, NULL);
    printf("waiter: %s\n", w[0].ret == -1 ? errname(w[0].err) : "?");
    YESNO("  PI word is 0", cvlock == 0);

    /* A plain FUTEX_WAIT on the word: requeue-PI refuses it. */
    pthread_t t;
    pthread_create(&t, NULL, plain_wait, NULL);
    while ((r = cmp_requeue_pi(1, 1, &cvlock, 0)) == 0) msleep(1);
    printf("requeue with a plain waiter: %s\n", r == -1 ? errname(errno) : "?");
    VAL("wake the plain waiter", futex(&cv, FUTEX_WAKE, 1, NULL));
    pthread_join(t, NULL);
    YESNO("  PI word is 0", cvlock == 0);
}

/* The same across processes, in shared memory (no FUTEX_PRIVATE_FLAG). */
static void requeue_pi_shared(void)
{
    printf("-- requeue to a PI futex in shared memory\n");
    unsigned *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) { printf("mmap: %s\n", errname(errno)); return; }
    unsigned *scv = &m[0], *slock = &m[1];
    pid_t me = gettid_();
    RES("lock_pi the shared mutex", futex(slock, FUTEX_LOCK_PI, 0, NULL));
    pid_t c = fork();
    if (c == 0) {
        pid_t tid = gettid_();
        long r = syscall(SYS_futex, scv, FUTEX_WAIT_REQUEUE_PI, 0, NULL, slock, 0);
        int owned = r == 0 && (*slock & FUTEX_TID_MASK) == (unsigned)tid;
        int unlocked = futex(slock, FUTEX_UNLOCK_PI, 0, NULL) == 0;
        _exit(owned && unlocked ? 0 : 1);
    }
    long r;
    while ((r = futex6(scv, FUTEX_CMP_REQUEUE_PI, 1, 1, slock, 0)) == 0) msleep(1);
    VAL("requeue the child's wait", r);
    YESNO("  PI word is mine with waiters", *slock == ((unsigned)me | FUTEX_WAITERS));
    RES("unlock_pi the shared mutex", futex(slock, FUTEX_UNLOCK_PI, 0, NULL));
    int st;
    waitpid(c, &st, 0);
    printf("child (owned it, then unlocked): %s\n", wstatus_str(st));
    YESNO("  PI word is 0", *slock == 0);
    munmap(m, 4096);
}

/* ---- a cycle of PI waiters: EDEADLK for the one that would close it --- */

static unsigned dl_a, dl_b;
static volatile int dl_has_b;
static long dl_ret;

static void *dl_thread(void *p)
{
    (void)p;
    futex(&dl_b, FUTEX_LOCK_PI_PRIVATE, 0, NULL);
    dl_has_b = 1;
    dl_ret = futex(&dl_a, FUTEX_LOCK_PI_PRIVATE, 0, NULL); /* blocks on main */
    futex(&dl_a, FUTEX_UNLOCK_PI_PRIVATE, 0, NULL);
    futex(&dl_b, FUTEX_UNLOCK_PI_PRIVATE, 0, NULL);
    return NULL;
}

static void pi_deadlock(void)
{
    printf("-- PI deadlock detection\n");
    FRES("main locks A", futex(&dl_a, FUTEX_LOCK_PI_PRIVATE, 0, NULL));
    pthread_t t;
    pthread_create(&t, NULL, dl_thread, NULL);
    while (!dl_has_b || !(__atomic_load_n(&dl_a, __ATOMIC_SEQ_CST) & FUTEX_WAITERS))
        msleep(1);
    msleep(50); /* the thread is asleep on A, holding B */
    FRES("main locks B (held by a thread waiting for A)", futex(&dl_b, FUTEX_LOCK_PI_PRIVATE, 0, NULL));
    struct timespec ts = in_ms(CLOCK_REALTIME, 10);
    FRES("the same with a timeout", futex(&dl_b, FUTEX_LOCK_PI_PRIVATE, 0, &ts));
    FRES("main unlocks A", futex(&dl_a, FUTEX_UNLOCK_PI_PRIVATE, 0, NULL));
    pthread_join(t, NULL);
    printf("thread got A: %s\n", dl_ret == 0 ? "yes" : "no");
    printf("words free: %s\n", dl_a == 0 && dl_b == 0 ? "yes" : "no");
}

int main(int argc, char **argv)
{
    guest_init(argc, argv, "futex_pi");
    owner_thread_dies("robust", 0, 0);
    owner_thread_dies("robust", 0, 1);
    owner_thread_dies("robust PI", 1, 0);
    owner_thread_dies("robust PI", 1, 1);
    owner_process_dies(0);
    owner_process_dies(1);
    pi_contention();
    raw_ops();
    requeue_pi();
    requeue_pi_shared();
    pi_deadlock();
    guest_cleanup();
    return 0;
}
