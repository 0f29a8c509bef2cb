/* signal_roundtrip: raise(SIGUSR1) with a handler installed; one op is
 * the delivery and the return from the handler. */
#include "bench.h"
#include <signal.h>
static volatile sig_atomic_t hits;
static void h(int s) { (void)s; hits++; }
int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = h;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGUSR1, &sa, NULL)) bench_die("sigaction");
    BENCH_LOOP("signal_roundtrip", 250000, raise(SIGUSR1));
    if (hits == 0) { fprintf(stderr, "signal_roundtrip: handler never ran\n"); return 1; }
    return 0;
}
