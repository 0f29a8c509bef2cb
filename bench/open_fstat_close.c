/* open_fstat_close FILE: open(O_RDONLY) + fstat + close. */
#include "bench.h"
int main(int argc, char **argv)
{
    if (argc < 2) { fprintf(stderr, "usage: open_fstat_close FILE\n"); return 2; }
    struct stat st;
    const char *p = argv[1];
    BENCH_LOOP("open_fstat_close", 400000, {
        int fd = open(p, O_RDONLY);
        if (fd < 0 || fstat(fd, &st) != 0) bench_die("open/fstat %s", p);
        close(fd);
    });
    return 0;
}
