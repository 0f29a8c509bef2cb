/* futex_pingpong: two threads hand a token back and forth with
 * FUTEX_WAIT/FUTEX_WAKE; one op is a full round trip. */
#include "bench.h"
/* <linux/futex.h> is not visible to musl-gcc */
#define FUTEX_WAIT_PRIVATE 128
#define FUTEX_WAKE_PRIVATE 129
#include <pthread.h>
#include <stdatomic.h>

static _Atomic int word;    /* 0: main's turn, 1: peer's turn, 2: stop */

static void fwait(int val) { syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0); }
static void fwake(void) { syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0); }

static void *peer(void *arg)
{
    (void)arg;
    for (;;) {
        int v;
        while ((v = atomic_load(&word)) == 0) fwait(0);
        if (v == 2) return NULL;
        atomic_store(&word, 0);
        fwake();
    }
}

int main(void)
{
    pthread_t t;
    if (pthread_create(&t, NULL, peer, NULL)) bench_die("pthread_create");
    BENCH_LOOP("futex_pingpong", 100000, {
        atomic_store(&word, 1);
        fwake();
        while (atomic_load(&word) == 1) fwait(1);
    });
    atomic_store(&word, 2);
    fwake();
    pthread_join(t, NULL);
    return 0;
}
