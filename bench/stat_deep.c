/* stat_deep PATH: stat() of a path with (at least) 5 components, e.g.
 * /bench/a/b/c/file. */
#include "bench.h"
int main(int argc, char **argv)
{
    if (argc < 2) { fprintf(stderr, "usage: stat_deep PATH\n"); return 2; }
    struct stat st;
    const char *p = argv[1];
    BENCH_LOOP("stat_deep", 800000, { if (stat(p, &st) != 0) bench_die("stat %s", p); });
    return 0;
}
