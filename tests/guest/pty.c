/* Pseudo-terminals: /dev/ptmx, unlockpt, the slave's line discipline,
 * echo, job-control signals from master input, hangup. */
#include "common.h"
#include <time.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>
#include <termios.h>

static void drain(const char *label, int fd)
{
    char buf[256];
    usleep(50000);
    long n = read(fd, buf, sizeof buf);
    if (n < 0) printf("%s: %s\n", label, errname(errno));
    else print_bytes(label, buf, n);
}

int main(int argc, char **argv)
{
    guest_init(argc, argv, "pty");
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    VAL("posix_openpt", m >= 0 ? 0 : -1);
    int n = -1;
    VAL("TIOCGPTN", ioctl(m, TIOCGPTN, &n));
    char *name = ptsname(m);
    YESNO("ptsname is /dev/pts/N", name && !strncmp(name, "/dev/pts/", 9));
    VAL("open slave while locked", open(name, O_RDWR | O_NOCTTY));
    VAL("grantpt", grantpt(m));
    VAL("unlockpt", unlockpt(m));
    int s = open(name, O_RDWR | O_NOCTTY);
    VAL("open slave", s >= 0 ? 0 : -1);
    YESNO("isatty(slave)", isatty(s));
    YESNO("isatty(master)", isatty(m));
    struct stat st;
    fstat(s, &st);
    printf("slave: char %d minor matches: %s\n", S_ISCHR(st.st_mode), (int)minor(st.st_rdev) == n ? "yes" : "no");

    /* Canonical input with echo. */
    write(m, "hello\n", 6);
    char buf[64];
    long r = read(s, buf, sizeof buf);
    print_bytes("slave read", buf, r);
    drain("master sees echo", m);
    /* Output processing: \n -> \r\n. */
    write(s, "out\n", 4);
    drain("master reads slave output", m);
    /* Erase and kill. */
    write(m, "abx\177c\n", 6);
    r = read(s, buf, sizeof buf);
    print_bytes("after erase", buf, r);
    drain("echo of erase", m);

    /* Raw mode. */
    struct termios t;
    tcgetattr(s, &t);
    cfmakeraw(&t);
    VAL("tcsetattr raw", tcsetattr(s, TCSANOW, &t));
    write(m, "x\003y", 3);
    r = read(s, buf, sizeof buf);
    print_bytes("raw read", buf, r);
    tcgetattr(s, &t);
    t.c_lflag |= ICANON | ISIG | ECHO;
    t.c_oflag |= OPOST | ONLCR;
    t.c_iflag |= ICRNL;
    tcsetattr(s, TCSANOW, &t);

    /* Window size through the master. */
    struct winsize ws = { .ws_row = 33, .ws_col = 77 };
    VAL("TIOCSWINSZ on master", ioctl(m, TIOCSWINSZ, &ws));
    struct winsize got;
    ioctl(s, TIOCGWINSZ, &got);
    printf("slave winsize %d %d\n", got.ws_row, got.ws_col);

    /* VMIN/VTIME in non-canonical mode: VMIN 0 waits VTIME tenths for
     * the first byte, then returns 0; VMIN > 0 returns what came once no
     * byte arrived for VTIME tenths. */
    {
        struct termios saved, raw;
        tcgetattr(s, &saved);
        raw = saved;
        raw.c_lflag &= ~(ICANON | ECHO);
        raw.c_cc[VMIN] = 0;
        raw.c_cc[VTIME] = 2;
        tcsetattr(s, TCSANOW, &raw);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        long n = read(s, buf, sizeof buf);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        printf("VMIN 0 VTIME 2, nothing typed: read %ld after >= 150 ms: %s\n", n, ms >= 150 ? "yes" : "no");
        raw.c_cc[VMIN] = 5;
        tcsetattr(s, TCSANOW, &raw);
        write(m, "ab", 2);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        n = read(s, buf, sizeof buf);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        printf("VMIN 5 VTIME 2, two typed: read %ld [%.*s] after >= 150 ms: %s\n", n, (int)(n > 0 ? n : 0), buf, ms >= 150 ? "yes" : "no");
        tcsetattr(s, TCSANOW, &saved);
    }

    /* A child that makes the slave its controlling terminal gets SIGINT
     * when the master types ^C. */
    int sync[2];
    pipe(sync);
    pid_t c = fork();
    if (c == 0) {
        setsid();
        /* A new session has no controlling terminal: /dev/tty is ENXIO. */
        VAL("child: open /dev/tty in a new session", open("/dev/tty", O_RDWR));
        int cs = open(name, O_NOCTTY | O_RDWR);
        ioctl(cs, TIOCSCTTY, 0);
        /* Now /dev/tty is this pty: what it writes reaches the master. */
        int t = open("/dev/tty", O_RDWR);
        printf("child: open /dev/tty after TIOCSCTTY: %s\n", t >= 0 ? "ok" : errname(errno));
        printf("child: /dev/tty isatty: %d\n", isatty(t));
        write(t, "via /dev/tty\n", 13);
        close(t);
        write(sync[1], "r", 1);
        char b;
        read(cs, &b, 1); /* blocks until the signal */
        _exit(3);
    }
    char ch;
    read(sync[0], &ch, 1);
    usleep(100000);
    write(m, "\003", 1);
    int status;
    waitpid(c, &status, 0);
    printf("child: %s\n", WIFSIGNALED(status) ? (WTERMSIG(status) == SIGINT ? "killed by SIGINT" : "killed by another signal") : "exited");
    drain("master after ^C", m);

    /* Hangup: close the master; the slave reads end of file. */
    close(m);
    r = read(s, buf, sizeof buf);
    printf("slave read after master closed: %ld\n", r);
    close(s);
    guest_cleanup();
    printf("done\n");
    return 0;
}
