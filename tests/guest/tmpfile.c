/* open(O_TMPFILE) and linkat of the result; fallocate's modes. */
#include "common.h"
/* include/uapi/linux/falloc.h */
#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE 0x01
#endif
#ifndef FALLOC_FL_PUNCH_HOLE
#define FALLOC_FL_PUNCH_HOLE 0x02
#endif
#ifndef FALLOC_FL_ZERO_RANGE
#define FALLOC_FL_ZERO_RANGE 0x10
#endif

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    if (d) closedir(d);
    return n;
}

int main(int argc, char **argv)
{
    guest_init(argc, argv, "tmpfile");
    int fd = open(".", O_TMPFILE | O_RDWR, 0600);
    VAL("O_TMPFILE", fd >= 0 ? 0 : -1);
    VAL("write", write(fd, "unnamed", 7));
    struct stat st;
    fstat(fd, &st);
    printf("nlink %ld size %ld type %c\n", (long)st.st_nlink, (long)st.st_size, type_char(st.st_mode));
    VAL("O_TMPFILE read-only", open(".", O_TMPFILE | O_RDONLY, 0600));
    VAL("O_TMPFILE on a file", open("nodir", O_CREAT | O_WRONLY, 0600) >= 0 ? open("nodir", O_TMPFILE | O_RDWR, 0600) : -2);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    VAL("linkat from /proc/self/fd", linkat(AT_FDCWD, path, AT_FDCWD, "named", AT_SYMLINK_FOLLOW));
    fstat(fd, &st);
    printf("nlink after link %ld\n", (long)st.st_nlink);
    char buf[16] = {0};
    int n = open("named", O_RDONLY);
    VAL("read named", read(n, buf, sizeof buf - 1));
    printf("content [%s]\n", buf);
    close(n);
    /* Once linked it is an ordinary file: unlinked again, it stays nameless. */
    unlink("named");
    VAL("linkat again after unlink", linkat(AT_FDCWD, path, AT_FDCWD, "again", AT_SYMLINK_FOLLOW));
    close(fd);
    unlink("nodir");
    /* O_EXCL: the file can never be linked. */
    fd = open(".", O_TMPFILE | O_RDWR | O_EXCL, 0600);
    VAL("O_TMPFILE|O_EXCL", fd >= 0 ? 0 : -1);
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    VAL("linkat of it", linkat(AT_FDCWD, path, AT_FDCWD, "excl", AT_SYMLINK_FOLLOW));
    close(fd);
    /* An ordinary file unlinked while open cannot be linked back either. */
    fd = open("plain", O_CREAT | O_RDWR, 0600);
    unlink("plain");
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    VAL("linkat of an unlinked open file", linkat(AT_FDCWD, path, AT_FDCWD, "back", AT_SYMLINK_FOLLOW));
    close(fd);
    /* Many O_TMPFILE files, written and dropped, leave nothing behind. */
    for (int i = 0; i < 50; i++) {
        int t = open(".", O_TMPFILE | O_RDWR, 0600);
        write(t, "scratch", 7);
        close(t);
    }
    VAL("entries left in the directory", count_entries("."));

    /* fallocate */
    int f = open("fa", O_CREAT | O_RDWR, 0600);
    VAL("fallocate 0..8192", fallocate(f, 0, 0, 8192));
    fstat(f, &st);
    printf("size %ld\n", (long)st.st_size);
    write(f, "abcdefgh", 8);
    VAL("fallocate KEEP_SIZE past end", fallocate(f, FALLOC_FL_KEEP_SIZE, 8192, 4096));
    fstat(f, &st);
    printf("size %ld\n", (long)st.st_size);
    VAL("punch hole 2..4", fallocate(f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 2, 2));
    pread(f, buf, 8, 0);
    print_bytes("after punch", buf, 8);
    VAL("punch without KEEP_SIZE", fallocate(f, FALLOC_FL_PUNCH_HOLE, 0, 1));
    VAL("zero range 6..8", fallocate(f, FALLOC_FL_ZERO_RANGE, 6, 2));
    pread(f, buf, 8, 0);
    print_bytes("after zero range", buf, 8);
    VAL("bad length", fallocate(f, 0, 0, 0));
    VAL("negative offset", fallocate(f, 0, -1, 10));
    int ro = open("fa", O_RDONLY);
    VAL("on a read-only fd", fallocate(ro, 0, 0, 10));
    int p[2];
    pipe(p);
    VAL("on a pipe", fallocate(p[1], 0, 0, 10));
    close(ro);
    close(f);
    unlink("fa");
    guest_cleanup();
    printf("done\n");
    return 0;
}
