/* fork_exec_wait PROGRAM [ARGS...]: fork, execv(PROGRAM) (a static binary
 * such as /bin/true from busybox; argv[0] is PROGRAM), waitpid. */
#include "bench.h"
int main(int argc, char **argv)
{
    if (argc < 2) { fprintf(stderr, "usage: fork_exec_wait PROGRAM [ARGS...]\n"); return 2; }
    char **av = argv + 1;
    BENCH_LOOP("fork_exec_wait", 500, {
        pid_t p = fork();
        if (p < 0) bench_die("fork");
        if (p == 0) { execv(av[0], av); _exit(127); }
        int st;
        if (waitpid(p, &st, 0) != p) bench_die("waitpid");
        if (st != 0) { fprintf(stderr, "fork_exec_wait: %s: status 0x%x\n", av[0], st); return 1; }
    });
    return 0;
}
