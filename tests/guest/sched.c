/* Scheduling: nice values per thread (getpriority/setpriority, PRIO_PROCESS
 * and PRIO_PGRP), their inheritance by threads and children, policies and
 * priorities (sched_setscheduler and friends), SCHED_RESET_ON_FORK, CPU
 * affinity, and the errors.
 *
 * Only what an unprivileged native run may do is compared: nice values only
 * go up, no real-time policies (root in umk may; a user natively may not).
 * Nice values are printed relative to the one the program started with.
 */
#include "common.h"
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>

static int base;

/* musl's sched_setscheduler and friends are stubs returning ENOSYS (the
 * calls act on threads, not processes): use the system calls. */
#define sched_setscheduler(p, pol, sp) syscall(SYS_sched_setscheduler, p, pol, sp)
#define sched_getscheduler(p) ((int)syscall(SYS_sched_getscheduler, p))
#define sched_getparam(p, sp) syscall(SYS_sched_getparam, p, sp)
#define sched_setparam(p, sp) syscall(SYS_sched_setparam, p, sp)
#define sched_rr_get_interval(p, ts) syscall(SYS_sched_rr_get_interval, p, ts)

static int nice_of(int which, int who)
{
    errno = 0;
    int r = getpriority(which, who);
    return errno ? -1000 - errno : r - base;
}

static void show(const char *what, long r)
{
    printf("%s: %ld %s\n", what, r, errname(r < 0 ? errno : 0));
}

static pid_t thread_tid;
static volatile int thread_go, thread_done;

static void *thread_main(void *arg)
{
    (void)arg;
    thread_tid = syscall(SYS_gettid);
    printf("thread starts at %d\n", nice_of(PRIO_PROCESS, 0));
    show("thread raises its own nice", setpriority(PRIO_PROCESS, 0, base + 3));
    printf("thread nice %d\n", nice_of(PRIO_PROCESS, 0));
    __atomic_store_n(&thread_go, 1, __ATOMIC_SEQ_CST);
    while (!__atomic_load_n(&thread_done, __ATOMIC_SEQ_CST))
        usleep(1000);
    return NULL;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    errno = 0;
    base = getpriority(PRIO_PROCESS, 0);
    printf("getpriority: %s\n", errname(errno));
    long raw = syscall(SYS_getpriority, PRIO_PROCESS, 0);
    printf("raw getpriority is 20 - nice: %d\n", raw == 20 - base);

    show("setpriority +1", setpriority(PRIO_PROCESS, 0, base + 1));
    printf("nice %d\n", nice_of(PRIO_PROCESS, 0));

    /* Nice values are per thread. */
    pthread_t t;
    pthread_create(&t, NULL, thread_main, NULL);
    while (!__atomic_load_n(&thread_go, __ATOMIC_SEQ_CST))
        usleep(1000);
    printf("main nice %d\n", nice_of(PRIO_PROCESS, 0));
    printf("thread's nice seen from main %d\n", nice_of(PRIO_PROCESS, thread_tid));
    __atomic_store_n(&thread_done, 1, __ATOMIC_SEQ_CST);
    pthread_join(t, NULL);

    /* Children inherit. */
    pid_t c = fork();
    if (c == 0) {
        printf("child nice %d\n", nice_of(PRIO_PROCESS, 0));
        _exit(0);
    }
    waitpid(c, NULL, 0);

    /* PRIO_PGRP, in a group of our own: the best of its members. */
    c = fork();
    if (c == 0) {
        setpgid(0, 0);
        setpriority(PRIO_PROCESS, 0, base + 2);
        int go[2], back[2];
        pipe(go);
        pipe(back);
        pid_t g = fork();
        if (g == 0) {
            char b;
            setpriority(PRIO_PROCESS, 0, base + 5);
            write(back[1], "r", 1);
            read(go[0], &b, 1);
            printf("grandchild nice %d\n", nice_of(PRIO_PROCESS, 0));
            _exit(0);
        }
        char b;
        read(back[0], &b, 1);
        printf("group's best %d\n", nice_of(PRIO_PGRP, 0));
        printf("group by id %d\n", nice_of(PRIO_PGRP, getpgrp()));
        show("setpriority group", setpriority(PRIO_PGRP, 0, base + 6));
        printf("child nice %d\n", nice_of(PRIO_PROCESS, 0));
        write(go[1], "g", 1);
        waitpid(g, NULL, 0);
        _exit(0);
    }
    waitpid(c, NULL, 0);

    /* Clamped to 19. */
    show("setpriority 100", setpriority(PRIO_PROCESS, 0, 100));
    printf("nice is 19: %d\n", getpriority(PRIO_PROCESS, 0) == 19);

    /* Errors. */
    errno = 0;
    show("getpriority which=3", getpriority(3, 0));
    show("setpriority which=-1", setpriority(-1, 0, 19));
    show("getpriority no such pid", getpriority(PRIO_PROCESS, 4194000));
    show("setpriority no such pid", setpriority(PRIO_PROCESS, 4194000, 19));
    show("getpriority no such group", getpriority(PRIO_PGRP, 4194000));
    show("getpriority user without processes", getpriority(PRIO_USER, 54321));

    /* Policies. */
    int pols[] = { SCHED_OTHER, SCHED_FIFO, SCHED_RR, SCHED_BATCH, SCHED_IDLE, 6, 4, 99, -1 };
    for (unsigned i = 0; i < sizeof pols / sizeof pols[0]; i++) {
        errno = 0;
        int mx = sched_get_priority_max(pols[i]);
        int e1 = errno;
        errno = 0;
        int mn = sched_get_priority_min(pols[i]);
        printf("policy %d: max %d %s min %d %s\n", pols[i], mx, errname(e1), mn, errname(errno));
    }
    printf("scheduler %d\n", sched_getscheduler(0));
    struct sched_param sp = { .sched_priority = 0 };
    show("SCHED_BATCH", sched_setscheduler(0, SCHED_BATCH, &sp));
    printf("scheduler %d\n", sched_getscheduler(0));
    sp.sched_priority = 7;
    show("getparam", sched_getparam(0, &sp));
    printf("priority %d\n", sp.sched_priority);
    sp.sched_priority = 5;
    show("SCHED_BATCH priority 5", sched_setscheduler(0, SCHED_BATCH, &sp));
    show("setparam priority 5", sched_setparam(0, &sp));
    sp.sched_priority = 0;
    show("setparam priority 0", sched_setparam(0, &sp));
    show("policy 99", sched_setscheduler(0, 99, &sp));
    show("SCHED_DEADLINE", sched_setscheduler(0, SCHED_DEADLINE, &sp));
    show("FIFO priority 0", sched_setscheduler(0, SCHED_FIFO, &sp));
    sp.sched_priority = 100;
    show("FIFO priority 100", sched_setscheduler(0, SCHED_FIFO, &sp));
    sp.sched_priority = -1;
    show("FIFO priority -1", sched_setscheduler(0, SCHED_FIFO, &sp));
    sp.sched_priority = 0;
    show("NULL param", syscall(SYS_sched_setscheduler, 0, SCHED_BATCH, NULL));
    show("bad param pointer", syscall(SYS_sched_setscheduler, 0, SCHED_BATCH, (void *)16));
    show("getparam bad pointer", syscall(SYS_sched_getparam, 0, (void *)16));
    show("getparam NULL", syscall(SYS_sched_getparam, 0, NULL));
    show("pid -1", syscall(SYS_sched_setscheduler, -1, SCHED_BATCH, &sp));
    show("getscheduler pid -1", syscall(SYS_sched_getscheduler, -1));
    show("getscheduler no such pid", syscall(SYS_sched_getscheduler, 4194000));
    show("setscheduler no such pid", syscall(SYS_sched_setscheduler, 4194000, SCHED_BATCH, &sp));
    struct timespec ts;
    show("rr_get_interval", sched_rr_get_interval(0, &ts));
    show("rr_get_interval pid -1", sched_rr_get_interval(-1, &ts));
    show("rr_get_interval no such pid", sched_rr_get_interval(4194000, &ts));

    /* SCHED_RESET_ON_FORK: shown by getscheduler, not inherited itself. */
    show("BATCH|RESET_ON_FORK", sched_setscheduler(0, SCHED_BATCH | SCHED_RESET_ON_FORK, &sp));
    printf("scheduler %#x\n", sched_getscheduler(0));
    c = fork();
    if (c == 0) {
        printf("child scheduler %#x, nice is 19: %d\n", sched_getscheduler(0),
               getpriority(PRIO_PROCESS, 0) == 19);
        /* SCHED_IDLE, in a child that ends at once. */
        show("child SCHED_IDLE", sched_setscheduler(0, SCHED_IDLE, &sp));
        printf("child scheduler %d\n", sched_getscheduler(0));
        _exit(0);
    }
    waitpid(c, NULL, 0);

    /* Affinity: set to what it is, read back. */
    cpu_set_t set, again;
    CPU_ZERO(&set);
    show("getaffinity", sched_getaffinity(0, sizeof set, &set));
    show("setaffinity", sched_setaffinity(0, sizeof set, &set));
    CPU_ZERO(&again);
    sched_getaffinity(0, sizeof again, &again);
    printf("same mask: %d\n", CPU_EQUAL(&set, &again));
    show("getaffinity no such pid", sched_getaffinity(4194000, sizeof set, &set));
    show("setaffinity no such pid", sched_setaffinity(4194000, sizeof set, &set));
    show("getaffinity small", syscall(SYS_sched_getaffinity, 0, 3, &set));
    show("getaffinity bad pointer", syscall(SYS_sched_getaffinity, 0, sizeof set, (void *)16));
    return 0;
}
