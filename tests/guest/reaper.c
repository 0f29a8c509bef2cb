/* PR_SET_CHILD_SUBREAPER and PR_SET_PDEATHSIG. */
#include "common.h"
#include <sys/prctl.h>

int main(int argc, char **argv)
{
    guest_init(argc, argv, "reaper");
    int v = -1;
    VAL("PR_GET_CHILD_SUBREAPER", prctl(PR_GET_CHILD_SUBREAPER, &v));
    printf("subreaper before: %d\n", v);
    VAL("PR_SET_CHILD_SUBREAPER", prctl(PR_SET_CHILD_SUBREAPER, 1));
    prctl(PR_GET_CHILD_SUBREAPER, &v);
    printf("subreaper after: %d\n", v);
    VAL("PR_SET_PDEATHSIG bad signal", prctl(PR_SET_PDEATHSIG, 99));

    int p[2];
    pipe(p);
    pid_t me = getpid();
    pid_t mid = fork();
    if (mid == 0) {
        pid_t g = fork();
        if (g == 0) {
            /* The grandchild: dies with SIGUSR1 when its parent exits. */
            prctl(PR_SET_PDEATHSIG, SIGUSR1);
            int s = -1;
            prctl(PR_GET_PDEATHSIG, &s);
            char c = s == SIGUSR1 ? 'y' : 'n';
            write(p[1], &c, 1);
            for (;;) pause();
        }
        char c;
        read(p[0], &c, 1);
        write(p[1], &c, 1);
        _exit(7); /* orphan the grandchild */
    }
    int st;
    VAL("wait for the middle child", waitpid(mid, &st, 0) == mid ? 0 : -1);
    printf("middle exited %d\n", WEXITSTATUS(st));
    char c;
    read(p[0], &c, 1);
    printf("grandchild saw its pdeathsig: %c\n", c);
    /* The orphan was reparented to us (the subreaper), and its parent's
     * death killed it with SIGUSR1. */
    pid_t got = wait(&st);
    printf("reaped the grandchild: %s\n", got > 0 && got != mid ? "yes" : "no");
    printf("grandchild %s\n", WIFSIGNALED(st) && WTERMSIG(st) == SIGUSR1 ? "killed by SIGUSR1" : "ended otherwise");
    VAL("no more children", wait(&st));
    (void)me;
    guest_cleanup();
    printf("done\n");
    return 0;
}
