/* cpu_loop: a fixed amount of integer work, no syscalls inside the timed
 * region.  Prints "cpu_loop 1 TOTAL_NS": one op is the whole workload
 * (UMK_BENCH_SCALE scales the workload). */
#include "bench.h"
static uint64_t work(long n)
{
    uint64_t x = 88172645463325252ull, acc = 0;
    for (long i = 0; i < n; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;   /* xorshift64 */
        acc += (x % 1000003) * (uint64_t)(i | 1);
    }
    return acc;
}
int main(void)
{
    long n = bench_iters(150000000);
    volatile uint64_t sink = work(n / 10);          /* warm-up */
    uint64_t t0 = now_ns();
    sink += work(n);
    uint64_t t = now_ns() - t0;
    printf("cpu_loop 1 %.1f\n", (double)t);
    return sink == 42;
}
