/* files_read: the read path on the fixture tree made by make-fixture.sh.
 * usage: files_read SCRATCH FIXTURE
 * All paths printed are relative to FIXTURE ("<F>"). */
#include "common.h"
#include <sys/syscall.h>
#include <sys/uio.h>

static char F[PATH_MAX];      /* fixture path as given */
static char FREAL[PATH_MAX];  /* fixture path as getcwd() reports it */

static const char *fx(const char *rel)
{
    static char buf[4][PATH_MAX];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], PATH_MAX, "%s/%s", F, rel);
    return buf[i];
}

/* Replace the fixture prefix of an absolute path by "<F>". */
static const char *rel(const char *p)
{
    static char buf[PATH_MAX];
    size_t n;
    if ((n = strlen(FREAL)) && !strncmp(p, FREAL, n) && (p[n] == '/' || !p[n])) {
        snprintf(buf, sizeof buf, "<F>%s", p + n);
        return buf;
    }
    if ((n = strlen(F)) && !strncmp(p, F, n) && (p[n] == '/' || !p[n])) {
        snprintf(buf, sizeof buf, "<F>%s", p + n);
        return buf;
    }
    return p;
}

static void print_stat(const char *label, const struct stat *st)
{
    printf("%s: type %c mode %04o", label, type_char(st->st_mode),
           (unsigned)(st->st_mode & 07777));
    if (S_ISREG(st->st_mode)) printf(" size %lld nlink %lu", (long long)st->st_size,
                                     (unsigned long)st->st_nlink);
    printf("\n");
}

static void stat_both(const char *name, int size_of_link)
{
    struct stat st;
    char label[128];
    snprintf(label, sizeof label, "stat %s", name);
    if (stat(fx(name), &st) == 0) print_stat(label, &st);
    else printf("%s: %s\n", label, errname(errno));
    snprintf(label, sizeof label, "lstat %s", name);
    if (lstat(fx(name), &st) == 0) {
        print_stat(label, &st);
        if (S_ISLNK(st.st_mode) && size_of_link)
            printf("lstat %s: link size %lld\n", name, (long long)st.st_size);
    } else printf("%s: %s\n", label, errname(errno));
}

struct linux_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

static int cmpstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_dir(const char *name, size_t bufsz)
{
    int fd = open(fx(name), O_RDONLY | O_DIRECTORY);
    if (fd < 0) {
        printf("getdents64 %s: open %s\n", name, errname(errno));
        return;
    }
    char *buf = malloc(bufsz);
    char *ents[128];
    int n = 0, calls = 0;
    for (;;) {
        long r = syscall(SYS_getdents64, fd, buf, bufsz);
        if (r < 0) {
            printf("getdents64 %s: %s\n", name, errname(errno));
            break;
        }
        calls++;
        if (r == 0) break;
        for (long off = 0; off < r;) {
            struct linux_dirent64 *d = (void *)(buf + off);
            char t = '?';
            switch (d->d_type) {
            case DT_REG: t = '-'; break;
            case DT_DIR: t = 'd'; break;
            case DT_LNK: t = 'l'; break;
            case DT_FIFO: t = 'p'; break;
            case DT_UNKNOWN: t = 'u'; break;
            }
            if (n < 128) {
                ents[n] = malloc(strlen(d->d_name) + 4);
                sprintf(ents[n], "%s %c", d->d_name, t);
                n++;
            }
            off += d->d_reclen;
        }
    }
    qsort(ents, n, sizeof ents[0], cmpstr);
    printf("getdents64 %s (buf %zu): %d entries%s\n", name, bufsz, n,
           calls > 2 ? ", several calls" : "");
    for (int i = 0; i < n; i++) {
        printf("  %s\n", ents[i]);
        free(ents[i]);
    }
    /* After EOF, another call keeps returning 0. */
    VAL("  getdents64 again at EOF", syscall(SYS_getdents64, fd, buf, bufsz));
    /* Rewind and read again: same count. */
    lseek(fd, 0, SEEK_SET);
    int n2 = 0;
    for (;;) {
        long r = syscall(SYS_getdents64, fd, buf, bufsz);
        if (r <= 0) break;
        for (long off = 0; off < r; n2++)
            off += ((struct linux_dirent64 *)(buf + off))->d_reclen;
    }
    YESNO("  rewind gives same count", n2 == n);
    free(buf);
    close(fd);
}

static void try_open(const char *label, const char *path, int flags)
{
    int fd = open(path, flags);
    if (fd < 0) {
        printf("open %s: %s\n", label, errname(errno));
        return;
    }
    char buf[64];
    ssize_t r = read(fd, buf, sizeof buf);
    if (r < 0) printf("open %s: ok, read %s\n", label, errname(errno));
    else {
        char l[160];
        snprintf(l, sizeof l, "open %s: ok, read %zd", label, r);
        print_bytes(l, buf, r);
    }
    close(fd);
}

static void cwd(const char *label)
{
    char buf[PATH_MAX];
    if (getcwd(buf, sizeof buf)) printf("%s: %s\n", label, rel(buf));
    else printf("%s: %s\n", label, errname(errno));
}

int main(int argc, char **argv)
{
    guest_init(argc, argv, "files_read");
    if (argc < 3) {
        printf("usage: files_read SCRATCH FIXTURE\n");
        return 2;
    }
    snprintf(F, sizeof F, "%s", argv[2]);
    if (chdir(F) != 0 || !getcwd(FREAL, sizeof FREAL)) {
        printf("fixture: %s\n", errname(errno));
        return 1;
    }
    char buf[8192];
    ssize_t r;
    int fd;

    /* --- open/read ------------------------------------------------------ */
    fd = open(fx("hello.txt"), O_RDONLY);
    YESNO("open hello.txt", fd >= 0);
    r = read(fd, buf, 100);
    print_bytes("read 100 of hello.txt", buf, r);
    VAL("read at EOF", read(fd, buf, 100));
    VAL("read 0 bytes", read(fd, buf, 0));
    r = pread(fd, buf, 5, 7);
    print_bytes("pread 5 at 7", buf, r);
    VAL("pread at 13 (EOF)", pread(fd, buf, 5, 13));
    VAL("pread at 1000", pread(fd, buf, 5, 1000));
    VAL("pread negative offset", pread(fd, buf, 5, -1));
    VAL("offset unchanged by pread", lseek(fd, 0, SEEK_CUR));
    VAL("write to O_RDONLY fd", write(fd, "x", 1));
    close(fd);

    /* --- lseek ---------------------------------------------------------- */
    fd = open(fx("big.bin"), O_RDONLY);
    VAL("lseek SET 10", lseek(fd, 10, SEEK_SET));
    VAL("lseek CUR +5", lseek(fd, 5, SEEK_CUR));
    VAL("lseek CUR -3", lseek(fd, -3, SEEK_CUR));
    r = read(fd, buf, 8);
    print_bytes("read 8 at 12", buf, r);
    VAL("lseek END 0", lseek(fd, 0, SEEK_END));
    VAL("lseek END -10", lseek(fd, -10, SEEK_END));
    r = read(fd, buf, 100);
    print_bytes("read 100 at END-10", buf, r);
    VAL("lseek SET beyond EOF", lseek(fd, 200000, SEEK_SET));
    VAL("read beyond EOF", read(fd, buf, 10));
    VAL("lseek SET -1", lseek(fd, -1, SEEK_SET));
    VAL("lseek CUR to negative", lseek(fd, -300000, SEEK_CUR));
    VAL("lseek bad whence", lseek(fd, 0, 99));
    VAL("offset after failed lseeks", lseek(fd, 0, SEEK_CUR));

    /* --- readv / pread of a 100 KiB file --------------------------------- */
    lseek(fd, 0, SEEK_SET);
    char a[5], b[100];
    struct iovec iov[3] = {{a, sizeof a}, {NULL, 0}, {b, sizeof b}};
    r = readv(fd, iov, 3);
    VAL("readv 5+0+100", r);
    print_bytes("readv iov0", a, 5);
    print_bytes("readv iov2 first 10", b, 10);
    VAL("offset after readv", lseek(fd, 0, SEEK_CUR));
    r = preadv(fd, iov, 1, 63);
    print_bytes("preadv 5 at 63", a, r);
    uint32_t h = FNV_INIT;
    long total = 0;
    lseek(fd, 0, SEEK_SET);
    while ((r = read(fd, buf, 3000)) > 0) {
        h = fnv1a(buf, r, h);
        total += r;
    }
    printf("read whole big.bin in 3000-byte chunks: %ld bytes fnv %08x\n", total, h);
    h = FNV_INIT;
    total = 0;
    for (off_t off = 0;; off += 4096) {
        r = pread(fd, buf, 4096, off);
        if (r <= 0) break;
        h = fnv1a(buf, r, h);
        total += r;
    }
    printf("pread whole big.bin in 4096-byte chunks: %ld bytes fnv %08x\n", total, h);
    r = pread(fd, buf, 4096, 102400 - 100);
    VAL("pread 4096 at size-100", r);
    close(fd);

    /* --- fstat / stat / lstat --------------------------------------------- */
    struct stat st;
    fd = open(fx("big.bin"), O_RDONLY);
    if (fstat(fd, &st) == 0) print_stat("fstat big.bin", &st);
    YESNO("fstat blksize > 0", st.st_blksize > 0);
    YESNO("fstat blocks cover size", st.st_blocks * 512 >= st.st_size);
    close(fd);
    const char *names[] = {"hello.txt", "empty.txt", "exec.sh", "private.txt", "dir",
                           "emptydir", "fifo", "link_rel", "link_dir", "dangling",
                           "loop_a", "dir/up_link", "dir/sub/deep.txt", "missing"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        stat_both(names[i], strcmp(names[i], "link_abs") != 0);
    stat_both("link_abs", 0);
    RES("fstatat AT_SYMLINK_NOFOLLOW link_rel",
        fstatat(AT_FDCWD, fx("link_rel"), &st, AT_SYMLINK_NOFOLLOW));
    printf("  type %c\n", type_char(st.st_mode));
    fd = open(fx("dir"), O_RDONLY | O_DIRECTORY);
    RES("fstatat dirfd a.txt", fstatat(fd, "a.txt", &st, 0));
    printf("  size %lld\n", (long long)st.st_size);
    RES("fstatat dirfd AT_EMPTY_PATH", fstatat(fd, "", &st, AT_EMPTY_PATH));
    printf("  type %c\n", type_char(st.st_mode));
    RES("fstatat dirfd empty path without flag", fstatat(fd, "", &st, 0));
    RES("fstatat dirfd ../hello.txt", fstatat(fd, "../hello.txt", &st, 0));
    printf("  size %lld\n", (long long)st.st_size);
    VAL("read on a directory fd", read(fd, buf, 10));
    close(fd);

    /* --- getdents64 ------------------------------------------------------- */
    list_dir(".", 4096);
    list_dir("dir", 64);        /* small buffer: several calls */
    list_dir("emptydir", 4096);
    fd = open(fx("dir"), O_RDONLY | O_DIRECTORY);
    VAL("getdents64 buffer too small", syscall(SYS_getdents64, fd, buf, 8));
    close(fd);
    fd = open(fx("hello.txt"), O_RDONLY);
    VAL("getdents64 on a file", syscall(SYS_getdents64, fd, buf, sizeof buf));
    close(fd);

    /* --- readlink --------------------------------------------------------- */
    r = readlink(fx("link_rel"), buf, sizeof buf);
    print_bytes("readlink link_rel", buf, r);
    r = readlink(fx("link_abs"), buf, sizeof buf - 1);
    if (r >= 0) { buf[r] = 0; printf("readlink link_abs: %s\n", rel(buf)); }
    else printf("readlink link_abs: %s\n", errname(errno));
    r = readlink(fx("dir/up_link"), buf, sizeof buf);
    print_bytes("readlink dir/up_link", buf, r);
    r = readlink(fx("link_rel"), buf, 3);
    print_bytes("readlink link_rel bufsize 3", buf, r);
    VAL("readlink regular file", readlink(fx("hello.txt"), buf, sizeof buf));
    VAL("readlink missing", readlink(fx("missing"), buf, sizeof buf));
    VAL("readlink through dir symlink", readlink(fx("link_dir/deep_link"), buf, sizeof buf));
    fd = open(fx("dir"), O_RDONLY | O_DIRECTORY);
    r = readlinkat(fd, "deep_link", buf, sizeof buf);
    print_bytes("readlinkat dirfd deep_link", buf, r);
    close(fd);

    /* --- access / faccessat ------------------------------------------------ */
    RES("access hello.txt F_OK", access(fx("hello.txt"), F_OK));
    RES("access hello.txt R_OK", access(fx("hello.txt"), R_OK));
    RES("access hello.txt X_OK", access(fx("hello.txt"), X_OK));
    RES("access exec.sh X_OK", access(fx("exec.sh"), X_OK));
    RES("access dir X_OK", access(fx("dir"), X_OK));
    RES("access missing F_OK", access(fx("missing"), F_OK));
    RES("access dangling F_OK", access(fx("dangling"), F_OK));
    RES("access hello.txt/x", access(fx("hello.txt/x"), F_OK));
    RES("access bad mode", access(fx("hello.txt"), 0x100));
    fd = open(fx("dir"), O_RDONLY | O_DIRECTORY);
    RES("faccessat dirfd a.txt R_OK", faccessat(fd, "a.txt", R_OK, 0));
    RES("faccessat dirfd sub/deep.txt F_OK", faccessat(fd, "sub/deep.txt", F_OK, 0));
    RES("faccessat dirfd missing", faccessat(fd, "nope", F_OK, 0));
    close(fd);
    RES("faccessat2 AT_SYMLINK_NOFOLLOW dangling",
        syscall(439 /* faccessat2 */, AT_FDCWD, fx("dangling"), F_OK, AT_SYMLINK_NOFOLLOW));
    RES("faccessat2 dangling (follow)",
        syscall(439, AT_FDCWD, fx("dangling"), F_OK, 0));

    /* --- open errors and path resolution -------------------------------- */
    try_open("O_DIRECTORY on file", fx("hello.txt"), O_RDONLY | O_DIRECTORY);
    try_open("O_NOFOLLOW on symlink", fx("link_rel"), O_RDONLY | O_NOFOLLOW);
    try_open("O_NOFOLLOW on regular", fx("hello.txt"), O_RDONLY | O_NOFOLLOW);
    try_open("missing", fx("missing"), O_RDONLY);
    try_open("missing/x", fx("missing/x"), O_RDONLY);
    try_open("hello.txt/x", fx("hello.txt/x"), O_RDONLY);
    try_open("hello.txt/ (trailing slash)", fx("hello.txt/"), O_RDONLY);
    try_open("dir/ (trailing slash)", fx("dir/"), O_RDONLY);
    try_open("dir O_WRONLY", fx("dir"), O_WRONLY);
    try_open("dir O_RDWR", fx("dir"), O_RDWR);
    try_open("dir/sub/../a.txt", fx("dir/sub/../a.txt"), O_RDONLY);
    try_open("dir/./sub/./deep.txt", fx("dir/./sub/./deep.txt"), O_RDONLY);
    try_open("dir//sub///deep.txt", fx("dir//sub///deep.txt"), O_RDONLY);
    try_open("emptydir/../hello.txt", fx("emptydir/../hello.txt"), O_RDONLY);
    try_open("hello.txt/../hello.txt", fx("hello.txt/../hello.txt"), O_RDONLY);
    try_open("missing/../hello.txt", fx("missing/../hello.txt"), O_RDONLY);
    try_open("link_rel", fx("link_rel"), O_RDONLY);
    try_open("link_abs", fx("link_abs"), O_RDONLY);
    try_open("link_dir/sub/deep.txt", fx("link_dir/sub/deep.txt"), O_RDONLY);
    try_open("link_dir/../hello.txt", fx("link_dir/../hello.txt"), O_RDONLY);
    try_open("dir/up_link", fx("dir/up_link"), O_RDONLY);
    try_open("dir/deep_link", fx("dir/deep_link"), O_RDONLY);
    try_open("dangling", fx("dangling"), O_RDONLY);
    try_open("loop_a", fx("loop_a"), O_RDONLY);
    try_open("self_loop", fx("self_loop"), O_RDONLY);
    try_open("loop_a/x", fx("loop_a/x"), O_RDONLY);
    try_open("link_rel/ (symlink to file, trailing slash)", fx("link_rel/"), O_RDONLY);
    try_open("empty path", "", O_RDONLY);
    try_open("private.txt", fx("private.txt"), O_RDONLY);
    try_open("fifo O_RDONLY|O_NONBLOCK (no writer)", fx("fifo"), O_RDONLY | O_NONBLOCK);
    try_open("fifo O_WRONLY|O_NONBLOCK (no reader)", fx("fifo"), O_WRONLY | O_NONBLOCK);
    {
        char longname[300];
        memset(longname, 'x', sizeof longname - 1);
        longname[sizeof longname - 1] = 0;
        try_open("300-char component", longname, O_RDONLY);
    }
    fd = open(fx("link_rel"), O_PATH | O_NOFOLLOW);
    YESNO("O_PATH|O_NOFOLLOW on symlink", fd >= 0);
    if (fd >= 0) {
        RES("  fstat", fstat(fd, &st));
        printf("  type %c\n", type_char(st.st_mode));
        VAL("  read on O_PATH fd", read(fd, buf, 1));
        close(fd);
    }
    fd = open(fx("dir"), O_RDONLY | O_DIRECTORY);
    {
        int f2 = openat(fd, "sub/deep.txt", O_RDONLY);
        r = read(f2, buf, sizeof buf);
        print_bytes("openat dirfd sub/deep.txt", buf, r);
        close(f2);
        f2 = openat(fd, "../hello.txt", O_RDONLY);
        r = read(f2, buf, sizeof buf);
        print_bytes("openat dirfd ../hello.txt", buf, r);
        close(f2);
        int ffd = open(fx("hello.txt"), O_RDONLY);
        VAL("openat with a file as dirfd", openat(ffd, "x", O_RDONLY));
        close(ffd);
        VAL("openat with bad dirfd", openat(999, "x", O_RDONLY));
        f2 = openat(999, fx("hello.txt"), O_RDONLY);
        YESNO("openat absolute path ignores bad dirfd", f2 >= 0);
        if (f2 >= 0) close(f2);
    }
    close(fd);

    /* --- getcwd / chdir / fchdir ----------------------------------------- */
    RES("chdir fixture", chdir(F));
    cwd("getcwd");
    RES("chdir dir/sub", chdir("dir/sub"));
    cwd("getcwd");
    try_open("../a.txt from dir/sub", "../a.txt", O_RDONLY);
    RES("chdir ..", chdir(".."));
    cwd("getcwd");
    RES("chdir ../link_dir/sub", chdir("../link_dir/sub"));
    cwd("getcwd (symlink resolved)");
    RES("chdir to a file", chdir(fx("hello.txt")));
    RES("chdir missing", chdir(fx("missing")));
    RES("chdir dangling", chdir(fx("dangling")));
    cwd("getcwd after failed chdirs");
    fd = open(fx("emptydir"), O_RDONLY | O_DIRECTORY);
    RES("fchdir emptydir", fchdir(fd));
    cwd("getcwd");
    close(fd);
    fd = open(fx("hello.txt"), O_RDONLY);
    RES("fchdir on a file fd", fchdir(fd));
    close(fd);
    RES("fchdir bad fd", fchdir(999));
    RES("chdir /", chdir("/"));
    cwd("getcwd");
    RES("chdir /..", chdir("/.."));
    cwd("getcwd");
    VAL("getcwd size 1", getcwd(buf, 1) ? 0 : -1);

    guest_cleanup();
    printf("done\n");
    return 0;
}
