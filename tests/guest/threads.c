/* threads: pthread create/join, mutex-protected counter, TLS, thread ids,
 * condition variable hand-off, exit values.
 * usage: threads [SCRATCH] */
#include "common.h"
#include <pthread.h>
#include <sys/syscall.h>

#define NTHREADS 4
#define NITER 100000

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static long counter;
static __thread long tls_value = 7;
static pid_t tids[NTHREADS];
static int turn;

struct arg { int idx; long tls_seen; int pid_same; };

static void *worker(void *p)
{
    struct arg *a = p;
    a->tls_seen = tls_value;        /* fresh TLS copy: initial value */
    tls_value = 100 + a->idx;
    tids[a->idx] = (pid_t)syscall(SYS_gettid);
    a->pid_same = getpid() == (pid_t)syscall(SYS_getpid);
    for (int i = 0; i < NITER; i++) {
        pthread_mutex_lock(&mu);
        counter++;
        pthread_mutex_unlock(&mu);
    }
    /* ordered hand-off: thread idx waits for its turn */
    pthread_mutex_lock(&mu);
    while (turn != a->idx) pthread_cond_wait(&cv, &mu);
    turn++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    return (void *)(long)(tls_value * 10);
}

static void *exit17(void *p)
{
    (void)p;
    exit(17);
}

static void *exec_self(void *p)
{
    (void)p;
    char pid[16];
    snprintf(pid, sizeof pid, "%d", getpid());
    execl(g_self, g_self, "/tmp", "after-exec", pid, (char *)NULL);
    printf("execl from a thread: %s\n", errname(errno));
    _exit(1);
}

/* The program again, exec'd by a thread that was not the leader. */
static int after_exec(const char *old_pid)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    YESNO("after exec from a thread: pid kept", getpid() == atoi(old_pid));
    YESNO("  tid is the pid", syscall(SYS_gettid) == getpid());
    char line[256];
    FILE *f = fopen("/proc/self/status", "r");
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "Threads:", 8)) printf("  %s", line);
    if (f) fclose(f);
    return 5;
}

int main(int argc, char **argv)
{
    if (argc > 3 && !strcmp(argv[2], "after-exec")) return after_exec(argv[3]);
    guest_init(argc, argv, "threads");
    pthread_t th[NTHREADS];
    struct arg args[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        args[i].idx = i;
        int r = pthread_create(&th[i], NULL, worker, &args[i]);
        printf("pthread_create %d: %s\n", i, errname(r));
    }
    for (int i = 0; i < NTHREADS; i++) {
        void *ret;
        int r = pthread_join(th[i], &ret);
        printf("pthread_join %d: %s, returned %ld, saw initial TLS %ld, same pid %s\n", i,
               errname(r), (long)ret, args[i].tls_seen, args[i].pid_same ? "yes" : "no");
    }
    printf("counter: %ld (expected %d)\n", counter, NTHREADS * NITER);
    printf("main thread TLS still: %ld\n", tls_value);
    printf("hand-off turns completed: %d\n", turn);
    int distinct = 1;
    pid_t me = (pid_t)syscall(SYS_gettid);
    for (int i = 0; i < NTHREADS; i++) {
        if (tids[i] == me || tids[i] == getpid()) distinct = 0;
        for (int j = 0; j < i; j++)
            if (tids[i] == tids[j]) distinct = 0;
    }
    YESNO("thread ids distinct from each other and from the pid", distinct);

    /* detached thread + mutex trylock */
    pthread_mutex_lock(&mu);
    printf("trylock while locked: %s\n", errname(pthread_mutex_trylock(&mu)));
    pthread_mutex_unlock(&mu);
    printf("trylock while unlocked: %s\n", errname(pthread_mutex_trylock(&mu)));
    pthread_mutex_unlock(&mu);

    /* a thread calling exit() ends the whole process: done in a child */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        pthread_t t;
        pthread_create(&t, NULL, exit17, NULL);
        for (;;) pause();
    }
    int st;
    waitpid(pid, &st, 0);
    printf("child whose thread calls exit(17): %s\n", wstatus_str(st));

    /* execve from a thread other than the leader: the others die, the
     * caller takes the process's pid. */
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        pthread_t t;
        pthread_create(&t, NULL, exec_self, NULL);
        for (;;) pause();
    }
    waitpid(pid, &st, 0);
    printf("child whose thread execs: %s\n", wstatus_str(st));
    VAL("  no second report", waitpid(-1, &st, WNOHANG));

    guest_cleanup();
    printf("done\n");
    return 0;
}
