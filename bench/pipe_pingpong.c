/* pipe_pingpong: two processes bounce one byte over two pipes; one op is a
 * full round trip. */
#include "bench.h"
int main(void)
{
    int a[2], b[2];
    if (pipe(a) || pipe(b)) bench_die("pipe");
    pid_t p = fork();
    if (p < 0) bench_die("fork");
    if (p == 0) {
        char c;
        close(a[1]); close(b[0]);
        while (read(a[0], &c, 1) == 1)
            if (write(b[1], &c, 1) != 1) _exit(1);
        _exit(0);
    }
    close(a[0]); close(b[1]);
    char c = 'x';
    BENCH_LOOP("pipe_pingpong", 10000, {
        if (write(a[1], &c, 1) != 1 || read(b[0], &c, 1) != 1) bench_die("pingpong");
    });
    close(a[1]);
    int st;
    waitpid(p, &st, 0);
    return 0;
}
