/* File locks: flock(2) between open file descriptions and processes, and
 * POSIX record locks (fcntl F_SETLK/F_SETLKW/F_GETLK) between processes,
 * with their release rules. */
#include "common.h"
#include <sys/file.h>

static int lock_range(int fd, int cmd, short type, off_t start, off_t len)
{
    struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len };
    return fcntl(fd, cmd, &fl);
}

static void getlk(const char *label, int fd, short type, off_t start, off_t len, pid_t owner)
{
    struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len };
    if (fcntl(fd, F_GETLK, &fl) != 0) {
        printf("%s: %s\n", label, errname(errno));
        return;
    }
    if (fl.l_type == F_UNLCK) printf("%s: unlocked\n", label);
    else printf("%s: %s start %ld len %ld by %s\n", label, fl.l_type == F_WRLCK ? "write" : "read",
                (long)fl.l_start, (long)fl.l_len, fl.l_pid == owner ? "the expected owner" : "someone else");
}

int main(int argc, char **argv)
{
    guest_init(argc, argv, "locks");
    int fd = open("f", O_RDWR | O_CREAT, 0644);
    write(fd, "0123456789", 10);

    /* --- flock: descriptions, not processes ------------------------------ */
    int a = open("f", O_RDWR), b = open("f", O_RDWR);
    VAL("flock a LOCK_EX", flock(a, LOCK_EX | LOCK_NB));
    VAL("flock b LOCK_SH|LOCK_NB (other description)", flock(b, LOCK_SH | LOCK_NB));
    int a2 = dup(a);
    VAL("flock dup of a LOCK_EX (same description)", flock(a2, LOCK_EX | LOCK_NB));
    close(a);
    VAL("flock b still blocked while a dup is open", flock(b, LOCK_SH | LOCK_NB));
    close(a2);
    VAL("flock b after last close of a", flock(b, LOCK_SH | LOCK_NB));
    int c = open("f", O_RDWR);
    VAL("flock c LOCK_SH beside b's shared", flock(c, LOCK_SH | LOCK_NB));
    VAL("flock c convert to LOCK_EX", flock(c, LOCK_EX | LOCK_NB));
    VAL("flock b LOCK_UN", flock(b, LOCK_UN));
    VAL("flock c convert to LOCK_EX now", flock(c, LOCK_EX | LOCK_NB));
    VAL("flock bad op", flock(c, 0));
    close(b);
    close(c);

    /* --- flock inherited across fork, blocking wait ------------------------ */
    int p[2];
    pipe(p);
    pid_t child = fork();
    if (child == 0) {
        int x = open("f", O_RDWR);
        flock(x, LOCK_EX);
        write(p[1], "L", 1);
        usleep(200000);
        _exit(0); /* exit releases */
    }
    char ch;
    read(p[0], &ch, 1);
    int d = open("f", O_RDWR);
    VAL("flock LOCK_NB while the child holds it", flock(d, LOCK_EX | LOCK_NB));
    VAL("flock blocking waits for the child's exit", flock(d, LOCK_EX));
    waitpid(child, 0, 0);
    close(d);

    /* --- POSIX record locks ------------------------------------------------ */
    /* p carries child -> parent messages, q parent -> child. */
    int q[2];
    pipe(q);
    child = fork();
    if (child == 0) {
        lock_range(fd, F_SETLK, F_WRLCK, 2, 3);   /* bytes 2..4 */
        lock_range(fd, F_SETLK, F_RDLCK, 8, 0);   /* 8..EOF */
        write(p[1], "L", 1);
        read(q[0], &ch, 1); /* wait for the parent's go */
        _exit(0);
    }
    read(p[0], &ch, 1);
    VAL("F_SETLK write over the child's bytes 2-4", lock_range(fd, F_SETLK, F_WRLCK, 0, 3));
    VAL("F_SETLK write on free bytes 5-7", lock_range(fd, F_SETLK, F_WRLCK, 5, 3));
    VAL("F_SETLK read on the child's read range", lock_range(fd, F_SETLK, F_RDLCK, 9, 1));
    VAL("F_SETLK write on the child's read range", lock_range(fd, F_SETLK, F_WRLCK, 100, 1));
    getlk("F_GETLK write 0-9", fd, F_WRLCK, 0, 10, child);
    getlk("F_GETLK write 8-", fd, F_WRLCK, 8, 0, child);
    getlk("F_GETLK read 5-7 (own lock does not count)", fd, F_RDLCK, 5, 3, child);
    int ro = open("f", O_RDONLY);
    VAL("F_SETLK write lock on a read-only fd", lock_range(ro, F_SETLK, F_WRLCK, 50, 1));
    VAL("F_SETLK bad type", lock_range(fd, F_SETLK, 7, 0, 1));
    close(ro);
    write(q[1], "g", 1);
    VAL("F_SETLKW waits for the child's exit", lock_range(fd, F_SETLKW, F_WRLCK, 0, 0));
    waitpid(child, 0, 0);
    getlk("F_GETLK after the child is gone", fd, F_WRLCK, 0, 0, child);

    /* Closing any fd of the file drops this process's record locks. */
    child = fork();
    if (child == 0) {
        getlk("child sees the parent's lock", fd, F_WRLCK, 0, 1, getppid());
        write(p[1], "1", 1);
        read(q[0], &ch, 1);
        getlk("child after the parent closed another fd", fd, F_WRLCK, 0, 1, getppid());
        _exit(0);
    }
    read(p[0], &ch, 1);
    int other = open("f", O_RDONLY);
    close(other);
    write(q[1], "2", 1);
    waitpid(child, 0, 0);

    close(fd);
    guest_cleanup();
    printf("done\n");
    return 0;
}
