/* Core dumps: PR_SET_DUMPABLE and its inheritance, exec making a process
 * dumpable again, and that a process that is not dumpable leaves no core
 * and is not reported with the core flag.
 *
 * Whether a dumpable process leaves a core depends on the host's
 * core_pattern (a pipe ignores RLIMIT_CORE), so that part is not compared
 * with native runs: tests/coredump.rs runs this program in umk as
 *   coredump SCRATCH crash LIMIT [threads]
 * (a child crashes in crash_here with RLIMIT_CORE=LIMIT, -1 for unlimited,
 * in SCRATCH, with two more threads: one blocked in read, one running) and
 * reads the core with gdb.
 */
#include "common.h"
#include <sys/prctl.h>
#include <pthread.h>
#include <sys/resource.h>

__attribute__((noinline)) static void crash_here(int v)
{
    *(volatile int *)(uintptr_t)v = 42;
}

static int block_pipe[2];
static volatile int spinning;

static void *blocked_reader(void *arg)
{
    char c;
    (void)arg;
    read(block_pipe[0], &c, 1);
    return NULL;
}

static void *spinner(void *arg)
{
    (void)arg;
    for (;;)
        spinning = 1;
    return NULL;
}

static void status_line(const char *what, int st)
{
    if (WIFSIGNALED(st))
        printf("%s: killed by %s core=%d\n", what, signame(WTERMSIG(st)), WCOREDUMP(st) ? 1 : 0);
    else
        printf("%s: exit %d\n", what, WEXITSTATUS(st));
}

static void core_file(const char *what)
{
    struct stat sb;
    printf("%s: core file %s\n", what, stat("core", &sb) == 0 ? "present" : errname(errno));
}

static void set_dumpable(long v)
{
    errno = 0;
    int r = prctl(PR_SET_DUMPABLE, v);
    printf("set %ld: %d %s\n", v, r, errname(r < 0 ? errno : 0));
}

static void set_core_limit(rlim_t lim)
{
    struct rlimit rl;
    getrlimit(RLIMIT_CORE, &rl);
    rl.rlim_cur = lim == RLIM_INFINITY ? rl.rlim_max : lim;
    setrlimit(RLIMIT_CORE, &rl);
}

int main(int argc, char **argv)
{
    const char *scratch = argc > 1 ? argv[1] : "/tmp";
    if (argc > 3 && strcmp(argv[2], "crash") == 0) {
        if (chdir(scratch) != 0)
            return 1;
        pid_t c = fork();
        if (c == 0) {
            set_core_limit(strtoull(argv[3], NULL, 0));
            if (argc > 4 && strcmp(argv[4], "threads") == 0) {
                /* One thread blocked in a call, one running. */
                pthread_t t1, t2;
                pipe(block_pipe);
                pthread_create(&t1, NULL, blocked_reader, NULL);
                pthread_create(&t2, NULL, spinner, NULL);
                while (!spinning)
                    ;
                usleep(50000);
            }
            crash_here(0);
            _exit(2);
        }
        int st;
        waitpid(c, &st, 0);
        status_line("crash", st);
        core_file("crash");
        return 0;
    }
    if (argc > 2 && strcmp(argv[2], "report") == 0) {
        printf("after exec: dumpable=%d\n", prctl(PR_GET_DUMPABLE));
        return 0;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/coredump.d", scratch);
    mkdir(dir, 0755);
    if (chdir(dir) != 0) {
        printf("chdir: %s\n", errname(errno));
        return 1;
    }

    printf("dumpable=%d\n", prctl(PR_GET_DUMPABLE));
    set_dumpable(0);
    printf("dumpable=%d\n", prctl(PR_GET_DUMPABLE));
    pid_t c = fork();
    if (c == 0) {
        printf("child inherits: dumpable=%d\n", prctl(PR_GET_DUMPABLE));
        _exit(0);
    }
    int st;
    waitpid(c, &st, 0);
    set_dumpable(1);
    printf("dumpable=%d\n", prctl(PR_GET_DUMPABLE));
    set_dumpable(2);
    set_dumpable(7);
    printf("dumpable=%d\n", prctl(PR_GET_DUMPABLE));

    /* exec makes a process dumpable again. */
    c = fork();
    if (c == 0) {
        prctl(PR_SET_DUMPABLE, 0);
        execl(argv[0], argv[0], scratch, "report", (char *)NULL);
        _exit(127);
    }
    waitpid(c, &st, 0);
    status_line("exec child", st);

    /* Not dumpable: no core whatever the limit, and no core flag. */
    int sigs[] = { SIGSEGV, SIGABRT, SIGQUIT };
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        c = fork();
        if (c == 0) {
            set_core_limit(RLIM_INFINITY);
            prctl(PR_SET_DUMPABLE, 0);
            if (sigs[i] == SIGSEGV)
                crash_here(0);
            else if (sigs[i] == SIGABRT)
                abort();
            else
                kill(getpid(), SIGQUIT);
            _exit(3);
        }
        waitpid(c, &st, 0);
        status_line(signame(sigs[i]), st);
        core_file(signame(sigs[i]));
    }
    /* A signal whose default action is to terminate never dumps. */
    c = fork();
    if (c == 0) {
        set_core_limit(RLIM_INFINITY);
        kill(getpid(), SIGTERM);
        _exit(3);
    }
    waitpid(c, &st, 0);
    status_line("SIGTERM", st);
    core_file("SIGTERM");

    unlink("core");
    chdir("..");
    rmdir(dir);
    return 0;
}
