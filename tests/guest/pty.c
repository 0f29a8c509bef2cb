/* Pseudo-terminals: /dev/ptmx, unlockpt, the slave's line discipline,
 * echo, job-control signals from master input, hangup. */
#include "common.h"
#include <poll.h>
#include <time.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>
#include <termios.h>

static void drain(const char *label, int fd)
{
    char buf[256];
    usleep(50000);
    struct pollfd pf = { .fd = fd, .events = POLLIN };
    if (poll(&pf, 1, 200) == 0) {
        printf("%s: (nothing)\n", label);
        return;
    }
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
    {
        /* No slave opened yet: the master has nothing to read, no EIO. */
        char c;
        fcntl(m, F_SETFL, O_NONBLOCK);
        VAL("master read before any slave opened", read(m, &c, 1));
        struct pollfd pf = { .fd = m, .events = POLLIN };
        VAL("poll it", poll(&pf, 1, 0));
        fcntl(m, F_SETFL, 0);
    }
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

    /* Packet mode (TIOCPKT), as screen uses it: data reads start with a
     * TIOCPKT_DATA byte; the slave's flushes and flow control changes read
     * as a status byte alone; the master's own flushes do not. */
    {
        int on = 1, got = -1;
        VAL("TIOCPKT on", ioctl(m, TIOCPKT, &on));
        ioctl(m, TIOCGPKT, &got);
        printf("TIOCGPKT: %d\n", got);
        write(s, "pk\n", 3);
        drain("packet data", m);
        tcflush(s, TCIFLUSH);
        drain("after the slave's TCIFLUSH", m);
        tcflush(s, TCOFLUSH);
        drain("after the slave's TCOFLUSH", m);
        write(s, "q\n", 2);
        usleep(20000);
        VAL("the master's own TCIOFLUSH", tcflush(m, TCIOFLUSH));
        struct pollfd pf = { .fd = m, .events = POLLIN | POLLPRI };
        VAL("poll after it (nothing to read)", poll(&pf, 1, 50));
        struct termios t2;
        tcgetattr(s, &t2);
        t2.c_iflag |= IXON;
        tcsetattr(s, TCSANOW, &t2);
        pf.revents = 0;
        poll(&pf, 1, 50);
        printf("poll after IXON on: POLLIN %d POLLPRI %d\n", !!(pf.revents & POLLIN), !!(pf.revents & POLLPRI));
        drain("status after IXON on", m);
        tcsetattr(s, TCSANOW, &t2);
        drain("setting the same again", m);
        t2.c_iflag &= ~IXON;
        tcsetattr(s, TCSANOW, &t2);
        drain("status after IXON off", m);
        t2.c_iflag |= IXON;
        tcsetattr(s, TCSANOW, &t2);
        drain("status after IXON on again", m);
        write(m, "\023", 1);
        drain("status after ^S", m);
        write(m, "\021", 1);
        drain("status after ^Q", m);
        on = 0;
        VAL("TIOCPKT off", ioctl(m, TIOCPKT, &on));
        write(s, "np\n", 3);
        drain("data without packet mode", m);
    }

    /* The slave's owner and mode can change (grantpt, screen do it). */
    {
        VAL("chmod slave 0600", chmod(name, 0600));
        VAL("chown slave to me", chown(name, getuid(), getgid()));
        struct stat ss;
        fstat(s, &ss);
        printf("slave now: mode %o, mine: %s\n", ss.st_mode & 07777,
               ss.st_uid == getuid() && ss.st_gid == getgid() ? "yes" : "no");
        chmod(name, 0620);
    }

    /* Controlling terminals: open() without O_NOCTTY makes the slave a
     * session leader's; another session cannot take it; when the leader
     * exits its foreground group gets SIGHUP and the terminal is free. */
    {
        int gready[2], ready[2], go[2], hup[2];
        pipe(gready); pipe(ready); pipe(go); pipe(hup);
        fflush(stdout);
        pid_t c1 = fork();
        if (c1 == 0) {
            setsid();
            int cs = open(name, O_RDWR);
            printf("c1: open without O_NOCTTY made it the ctty: %s\n",
                   tcgetsid(cs) == getpid() ? "yes" : "no");
            VAL("c1: TIOCSCTTY on its own terminal", ioctl(cs, TIOCSCTTY, 0));
            fflush(stdout);
            pid_t g = fork();
            if (g == 0) {
                struct sigaction sa;
                memset(&sa, 0, sizeof sa);
                sa.sa_handler = SIG_DFL;
                sigaction(SIGHUP, &sa, NULL);
                sigset_t w;
                sigemptyset(&w);
                sigaddset(&w, SIGHUP);
                sigprocmask(SIG_BLOCK, &w, NULL);
                write(gready[1], "g", 1);
                int sig = 0;
                sigwait(&w, &sig);
                write(hup[1], sig == SIGHUP ? "H" : "?", 1);
                _exit(0);
            }
            char b;
            read(gready[0], &b, 1);
            write(ready[1], "r", 1);
            read(go[0], &b, 1);
            _exit(0);
        }
        char b;
        read(ready[0], &b, 1);
        fflush(stdout);
        pid_t c2 = fork();
        if (c2 == 0) {
            VAL("c2: TIOCSCTTY from a process that is not a session leader",
                ioctl(s, TIOCSCTTY, 0));
            setsid();
            int cs = open(name, O_RDWR | O_NOCTTY);
            VAL("c2: TIOCSCTTY on another session's terminal", ioctl(cs, TIOCSCTTY, 0));
            int cs2 = open(name, O_RDWR);
            printf("c2: open without O_NOCTTY did not take it: %s\n",
                   tcgetsid(cs2) != getpid() ? "yes" : "no");
            _exit(0);
        }
        waitpid(c2, NULL, 0);
        write(go[1], "x", 1);
        waitpid(c1, NULL, 0);
        struct pollfd pf = { .fd = hup[0], .events = POLLIN };
        b = '-';
        if (poll(&pf, 1, 2000) == 1) read(hup[0], &b, 1);
        printf("the leader exited: its foreground group got SIGHUP: %s\n", b == 'H' ? "yes" : "no");
        while (waitpid(-1, NULL, WNOHANG) > 0) {}
        fflush(stdout);
        pid_t c3 = fork();
        if (c3 == 0) {
            setsid();
            int cs = open(name, O_RDWR | O_NOCTTY);
            VAL("c3: TIOCSCTTY on the freed terminal", ioctl(cs, TIOCSCTTY, 0));
            int m2 = posix_openpt(O_RDWR | O_NOCTTY);
            grantpt(m2);
            unlockpt(m2);
            int s2 = open(ptsname(m2), O_RDWR | O_NOCTTY);
            VAL("c3: TIOCSCTTY on a second terminal", ioctl(s2, TIOCSCTTY, 0));
            VAL("c3: TIOCNOTTY on the second (not its ctty)", ioctl(s2, TIOCNOTTY));
            VAL("c3: TIOCNOTTY", ioctl(cs, TIOCNOTTY));
            VAL("c3: tcgetsid after it", tcgetsid(cs));
            _exit(0);
        }
        waitpid(c3, NULL, 0);
        close(gready[0]); close(gready[1]);
        close(ready[0]); close(ready[1]); close(go[0]); close(go[1]);
        close(hup[0]); close(hup[1]);
    }

    /* Hangup: close the master; the slave reads end of file. */
    close(m);
    r = read(s, buf, sizeof buf);
    printf("slave read after master closed: %ld\n", r);
    close(s);
    guest_cleanup();
    printf("done\n");
    return 0;
}
