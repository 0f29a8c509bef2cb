/* seq_read FILE: sequential 1 MiB read()s, rewinding at EOF.  One op is
 * 1 MiB read: NS_PER_OP is ns per MiB (MiB/s = 1e9 / NS_PER_OP). */
#include "bench.h"
#define MIB (1024 * 1024)

static uint64_t read_bytes(int fd, char *buf, uint64_t want)
{
    uint64_t got = 0;
    while (got < want) {
        ssize_t r = read(fd, buf, MIB);
        if (r < 0) bench_die("read");
        if (r == 0) {
            if (lseek(fd, 0, SEEK_SET) != 0) bench_die("lseek");
            struct stat st;
            if (fstat(fd, &st) == 0 && st.st_size == 0) {
                fprintf(stderr, "seq_read: empty file\n");
                exit(1);
            }
            continue;
        }
        got += (uint64_t)r;
    }
    return got;
}

int main(int argc, char **argv)
{
    if (argc < 2) { fprintf(stderr, "usage: seq_read FILE\n"); return 2; }
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0) bench_die("open %s", argv[1]);
    char *buf = malloc(MIB);
    long n = bench_iters(3000), w = bench_warmup(n);
    read_bytes(fd, buf, (uint64_t)w * MIB);
    uint64_t t0 = now_ns();
    uint64_t got = read_bytes(fd, buf, (uint64_t)n * MIB);
    uint64_t t = now_ns() - t0;
    printf("seq_read %ld %.1f\n", n, (double)t / ((double)got / MIB));
    return 0;
}
