/* fd_ops: dup/dup2/dup3, fcntl, bad fds, bad pointers, close-on-exec.
 * usage: fd_ops [SCRATCH]
 * fds 3..1023 are closed at start, so fd numbers are deterministic. */
#include "common.h"
#include <sys/syscall.h>
#include <sys/resource.h>

static void flags_str(const char *label, int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0) {
        printf("%s: %s\n", label, errname(errno));
        return;
    }
    const char *acc = (fl & O_ACCMODE) == O_RDONLY ? "O_RDONLY"
                    : (fl & O_ACCMODE) == O_WRONLY ? "O_WRONLY"
                    : (fl & O_ACCMODE) == O_RDWR ? "O_RDWR" : "O_ACCMODE?";
    printf("%s: %s%s%s\n", label, acc, fl & O_APPEND ? "|O_APPEND" : "",
           fl & O_NONBLOCK ? "|O_NONBLOCK" : "");
}

/* Re-exec mode: report which of fds 3..31 are open. */
static int child_report(void)
{
    printf("child after exec: open fds:");
    for (int fd = 3; fd < 32; fd++)
        if (fcntl(fd, F_GETFD) >= 0) printf(" %d", fd);
    printf("\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--report-fds")) {
        setvbuf(stdout, NULL, _IOLBF, 0);
        return child_report();
    }
    guest_init(argc, argv, "fd_ops");
    char buf[64];
    write_file("data", "0123456789");

    int fd = open("data", O_RDWR);
    VAL("open data", fd);
    VAL("dup", dup(fd));                 /* 4 */
    VAL("dup2 to 10", dup2(fd, 10));
    VAL("dup2 same fd", dup2(fd, fd));
    VAL("dup2 bad oldfd", dup2(99, 11));
    VAL("dup2 same bad fd", dup2(99, 99));
    VAL("dup2 newfd -1", dup2(fd, -1));
    VAL("dup2 newfd 1<<20", dup2(fd, 1 << 20));
    /* raw syscalls: musl's dup3() checks old==new itself and ignores
     * flags other than O_CLOEXEC */
    VAL("dup3 same fd", syscall(SYS_dup3, fd, fd, 0));
    VAL("dup3 bad flags", syscall(SYS_dup3, fd, 12, O_NONBLOCK));
    VAL("dup3 O_CLOEXEC to 12", syscall(SYS_dup3, fd, 12, O_CLOEXEC));
    VAL("  F_GETFD 12", fcntl(12, F_GETFD));
    VAL("  F_GETFD 10 (dup2 clears cloexec)", fcntl(10, F_GETFD));
    VAL("dup lowest free", dup(fd));     /* 5 */
    close(4);
    VAL("dup after close(4)", dup(fd));  /* 4 */

    /* Shared file offset between duplicates. */
    lseek(fd, 0, SEEK_SET);
    read(fd, buf, 3);
    VAL("offset shared with dup (fd 10)", lseek(10, 0, SEEK_CUR));
    int fd2 = open("data", O_RDONLY);
    VAL("separate open has own offset", lseek(fd2, 0, SEEK_CUR));
    VAL("separate open fd", fd2);
    close(fd2);

    /* fcntl */
    VAL("F_GETFD", fcntl(fd, F_GETFD));
    VAL("F_SETFD FD_CLOEXEC", fcntl(fd, F_SETFD, FD_CLOEXEC));
    VAL("F_GETFD after set", fcntl(fd, F_GETFD));
    VAL("F_GETFD of dup 10 unaffected", fcntl(10, F_GETFD));
    VAL("F_SETFD 0", fcntl(fd, F_SETFD, 0));
    VAL("F_GETFD after clear", fcntl(fd, F_GETFD));
    VAL("F_DUPFD 20", fcntl(fd, F_DUPFD, 20));
    VAL("F_DUPFD 20 again", fcntl(fd, F_DUPFD, 20));
    VAL("  F_GETFD 21", fcntl(21, F_GETFD));
    VAL("F_DUPFD_CLOEXEC 20", fcntl(fd, F_DUPFD_CLOEXEC, 20));
    VAL("  F_GETFD 22", fcntl(22, F_GETFD));
    VAL("F_DUPFD -1", fcntl(fd, F_DUPFD, -1));
    VAL("F_DUPFD beyond RLIMIT_NOFILE", fcntl(fd, F_DUPFD, 1 << 30));
    flags_str("F_GETFL O_RDWR", fd);
    int fa = open("data", O_WRONLY | O_APPEND);
    flags_str("F_GETFL O_WRONLY|O_APPEND", fa);
    VAL("F_SETFL O_NONBLOCK", fcntl(fa, F_SETFL, O_NONBLOCK | O_APPEND));
    flags_str("F_GETFL after F_SETFL", fa);
    VAL("F_SETFL cannot change access mode", fcntl(fa, F_SETFL, O_RDWR));
    flags_str("F_GETFL after F_SETFL O_RDWR", fa);
    close(fa);
    int fr = open("data", O_RDONLY);
    flags_str("F_GETFL O_RDONLY", fr);
    close(fr);
    VAL("fcntl bad cmd", fcntl(fd, 12345));
    VAL("fcntl F_GETFD on bad fd", fcntl(99, F_GETFD));

    /* close, bad fds */
    int t = dup(fd);
    VAL("close", close(t));
    VAL("close again", close(t));
    VAL("close -1", close(-1));
    VAL("read bad fd 99", read(99, buf, 1));
    VAL("read fd -1", read(-1, buf, 1));
    VAL("write bad fd 99", write(99, "x", 1));
    VAL("lseek bad fd", lseek(99, 0, SEEK_SET));
    struct stat st;
    VAL("fstat bad fd", fstat(99, &st));

    /* bad pointers */
    lseek(fd, 0, SEEK_SET);
    VAL("read into (void*)1", read(fd, (void *)1, 5));
    VAL("offset after EFAULT read", lseek(fd, 0, SEEK_CUR));
    VAL("write from (void*)1", write(fd, (void *)1, 5));
    VAL("fstat into (void*)1", syscall(SYS_fstat, fd, (void *)1));
    VAL("open (char*)1", syscall(SYS_open, (void *)1, O_RDONLY));
    VAL("pipe into (void*)1", syscall(SYS_pipe, (void *)1));
    VAL("read 0 bytes into NULL", read(fd, NULL, 0));

    /* write + read back through two fds */
    lseek(fd, 0, SEEK_SET);
    VAL("write 4 via fd", write(fd, "ABCD", 4));
    {
        char b2[16] = {0};
        int f3 = open("data", O_RDONLY);
        long r = read(f3, b2, sizeof b2);
        print_bytes("read back via new fd", b2, r);
        close(f3);
    }

    /* EMFILE: lower RLIMIT_NOFILE and open until it fails. */
    {
        struct rlimit rl, old;
        getrlimit(RLIMIT_NOFILE, &old);
        rl.rlim_cur = 40;
        rl.rlim_max = old.rlim_max;
        VAL("setrlimit NOFILE 40", setrlimit(RLIMIT_NOFILE, &rl));
        int n = 0, e = 0, last = -1, got[64];
        for (;;) {
            int x = dup(fd);
            if (x < 0) { e = errno; break; }
            last = x;
            if (n < 64) got[n++] = x;
        }
        printf("dup until failure: %d new fds, highest %d, error %s\n", n, last, errname(e));
        VAL("dup2 to fd 40 (= limit)", dup2(fd, 40));
        VAL("dup2 to fd 39 (< limit)", dup2(fd, 39));
        for (int i = 0; i < n; i++) close(got[i]);
        setrlimit(RLIMIT_NOFILE, &old);
    }

    /* Closing fds while walking /proc/self/fd, as CPython's close_fds
     * does: a small getdents64 buffer forces several reads, and no fd may
     * be skipped because earlier ones went away. In a child, so this
     * program's own fds stay as they are. */
    fflush(stdout);
    pid_t walker = fork();
    if (walker == 0) {
        int keep = -1;
        for (int i = 0; i < 6; i++) {
            int p[2];
            if (pipe(p) == 0 && keep < 0) keep = p[0];
        }
        int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        char dbuf[280];
        long n;
        while ((n = syscall(SYS_getdents64, dir, dbuf, sizeof dbuf)) > 0) {
            for (long off = 0; off < n;) {
                struct { uint64_t ino; int64_t off; unsigned short reclen; unsigned char type; char name[]; } *d =
                    (void *)(dbuf + off);
                int f = atoi(d->name);
                if (d->name[0] != '.' && f > 2 && f != keep && f != dir) close(f);
                off += d->reclen;
            }
        }
        close(dir);
        int left = 0;
        for (int f = 3; f < 256; f++)
            if (f != keep && fcntl(f, F_GETFD) >= 0) left++;
        printf("close while walking /proc/self/fd: %d left open, kept fd %s\n", left,
               fcntl(keep, F_GETFD) >= 0 ? "open" : "closed");
        _exit(0);
    }
    waitpid(walker, NULL, 0);

    /* close-on-exec across execve: fds 3 (cloexec set), 10, 12 (cloexec), 20, 21, 22 */
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        char *av[] = {g_self, "--report-fds", NULL};
        execv(g_self, av);
        printf("execv failed: %s\n", errname(errno));
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    printf("child: %s\n", wstatus_str(status));

    guest_cleanup();
    printf("done\n");
    return 0;
}
