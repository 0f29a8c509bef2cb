/* fresh-signals PROG [ARG...]: runs PROG with every signal at its default
 * action and none blocked, as umk starts a guest (and Linux starts init).
 * A shell cannot undo an ignored signal it inherited (a CI runner or a
 * Rust test harness may ignore SIGPIPE or glibc's signal 32), and ignored
 * signals survive exec. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: fresh-signals PROG [ARG...]\n");
        return 2;
    }
    /* The raw call: C libraries refuse their internal signals (32, 33). */
    unsigned long dfl[4] = { 0, 0, 0, 0 };
    for (int sig = 1; sig <= 64; sig++)
        syscall(SYS_rt_sigaction, sig, dfl, NULL, 8);
    unsigned long none = 0;
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, 8);
    execv(argv[1], argv + 1);
    perror(argv[1]);
    return 127;
}
