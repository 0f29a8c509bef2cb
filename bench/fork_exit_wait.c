/* fork_exit_wait: fork, child _exit(0), parent waitpid. */
#include "bench.h"
int main(void)
{
    BENCH_LOOP("fork_exit_wait", 6000, {
        pid_t p = fork();
        if (p < 0) bench_die("fork");
        if (p == 0) _exit(0);
        int st;
        if (waitpid(p, &st, 0) != p || st != 0) bench_die("waitpid");
    });
    return 0;
}
