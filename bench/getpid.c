/* getpid: one raw syscall(SYS_getpid) (not cached by libc). */
#include "bench.h"
int main(void)
{
    volatile long sink = 0;
    BENCH_LOOP("getpid", 3000000, sink += syscall(SYS_getpid));
    return sink == 0;
}
