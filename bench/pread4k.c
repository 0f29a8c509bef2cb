/* pread4k FILE: 4 KiB pread, cycling over the file's 4 KiB blocks. */
#include "bench.h"
int main(int argc, char **argv)
{
    if (argc < 2) { fprintf(stderr, "usage: pread4k FILE\n"); return 2; }
    int fd = open(argv[1], O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) bench_die("open %s", argv[1]);
    long blocks = st.st_size / 4096;
    if (blocks < 1) { fprintf(stderr, "pread4k: %s is smaller than 4 KiB\n", argv[1]); return 1; }
    static char buf[4096];
    BENCH_LOOP("pread4k", 700000, {
        if (pread(fd, buf, 4096, (off_t)(i % blocks) * 4096) != 4096) bench_die("pread");
    });
    return 0;
}
