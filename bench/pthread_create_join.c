/* pthread_create_join: create a thread that returns at once, join it. */
#include "bench.h"
#include <pthread.h>
static void *nop(void *a) { return a; }
int main(void)
{
    BENCH_LOOP("pthread_create_join", 7000, {
        pthread_t t;
        if (pthread_create(&t, NULL, nop, NULL)) bench_die("pthread_create");
        pthread_join(t, NULL);
    });
    return 0;
}
