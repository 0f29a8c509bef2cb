/* pipes: pipe/pipe2, EAGAIN, EOF, EPIPE/SIGPIPE, capacity, poll, select.
 * usage: pipes [SCRATCH] */
#include "common.h"
#include <poll.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <time.h>

static void revents(const char *label, int fd, short events)
{
    struct pollfd p = {fd, events, 0};
    int r = poll(&p, 1, 0);
    if (r < 0) {
        printf("%s: %s\n", label, errname(errno));
        return;
    }
    printf("%s: %d ready, revents", label, r);
    if (!p.revents) printf(" 0");
    if (p.revents & POLLIN) printf(" POLLIN");
    if (p.revents & POLLOUT) printf(" POLLOUT");
    if (p.revents & POLLHUP) printf(" POLLHUP");
    if (p.revents & POLLERR) printf(" POLLERR");
    if (p.revents & POLLNVAL) printf(" POLLNVAL");
    printf("\n");
}

static void msleep(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

static void flagsinfo(const char *label, int fd)
{
    int fd_flags = fcntl(fd, F_GETFD), fl = fcntl(fd, F_GETFL);
    printf("%s: cloexec %d nonblock %d accmode %s\n", label, !!(fd_flags & FD_CLOEXEC),
           !!(fl & O_NONBLOCK), (fl & O_ACCMODE) == O_RDONLY ? "r" :
           (fl & O_ACCMODE) == O_WRONLY ? "w" : "rw");
}

int main(int argc, char **argv)
{
    guest_init(argc, argv, "pipes");
    int p[2], q[2];
    char buf[70000];
    struct stat st;

    /* --- basics --------------------------------------------------------- */
    VAL("pipe", pipe(p));
    printf("pipe fds: %d %d\n", p[0], p[1]);
    flagsinfo("read end", p[0]);
    flagsinfo("write end", p[1]);
    fstat(p[0], &st);
    printf("fstat read end: type %c\n", type_char(st.st_mode));
    VAL("write 3", write(p[1], "abc", 3));
    VAL("read 10", read(p[0], buf, 10));
    VAL("lseek on pipe", lseek(p[0], 0, SEEK_SET));
    VAL("pread on pipe", pread(p[0], buf, 1, 0));
    VAL("read from write end", read(p[1], buf, 1));
    VAL("write to read end", write(p[0], "x", 1));
    VAL("write 5", write(p[1], "hello", 5));
    VAL("read 2", read(p[0], buf, 2));
    VAL("read rest", read(p[0], buf, 10));
    print_bytes("  data", buf, 3);
    close(p[1]);
    VAL("read after writer closed (EOF)", read(p[0], buf, 10));
    close(p[0]);

    /* --- pipe2 ---------------------------------------------------------- */
    VAL("pipe2 O_CLOEXEC|O_NONBLOCK", pipe2(p, O_CLOEXEC | O_NONBLOCK));
    flagsinfo("read end", p[0]);
    flagsinfo("write end", p[1]);
    VAL("read empty nonblocking", read(p[0], buf, 10));
    VAL("pipe2 bad flags", pipe2(q, O_APPEND));

    /* --- poll ----------------------------------------------------------- */
    revents("poll empty read end", p[0], POLLIN);
    revents("poll empty write end", p[1], POLLOUT);
    write(p[1], "z", 1);
    revents("poll read end with data", p[0], POLLIN);
    revents("poll read end with data, events=0", p[0], 0);
    {
        struct pollfd two[2] = {{p[0], POLLIN, 0}, {p[1], POLLOUT, 0}};
        VAL("poll both ends", poll(two, 2, 0));
        struct pollfd bad = {999, POLLIN, 0};
        VAL("poll bad fd (count)", poll(&bad, 1, 0));
        printf("  revents POLLNVAL: %s\n", bad.revents == POLLNVAL ? "yes" : "no");
        struct pollfd neg = {-1, POLLIN, 123};
        VAL("poll fd -1 ignored", poll(&neg, 1, 0));
        printf("  revents: %d\n", neg.revents);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        struct pollfd w = {p[1], POLLIN, 0};  /* nothing to read on the write end */
        VAL("poll timeout 20ms", poll(&w, 1, 20));
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        YESNO("  waited >= 19ms", ms >= 19);
    }
    close(p[1]);
    revents("poll read end, data + writer closed", p[0], POLLIN);
    read(p[0], buf, 1);
    revents("poll read end, drained + writer closed", p[0], POLLIN);
    close(p[0]);
    pipe(p);
    close(p[0]);
    revents("poll write end, reader closed", p[1], POLLOUT);
    close(p[1]);

    /* --- select --------------------------------------------------------- */
    pipe(p);
    {
        fd_set r, w;
        struct timeval tv = {0, 0};
        FD_ZERO(&r); FD_SET(p[0], &r);
        VAL("select empty pipe, timeout 0", select(p[0] + 1, &r, NULL, NULL, &tv));
        write(p[1], "q", 1);
        FD_ZERO(&r); FD_SET(p[0], &r);
        FD_ZERO(&w); FD_SET(p[1], &w);
        tv.tv_sec = 1;
        int n = select(p[1] + 1, &r, &w, NULL, &tv);
        printf("select with data: %d, read set %d, write set %d\n", n,
               FD_ISSET(p[0], &r), FD_ISSET(p[1], &w));
        FD_ZERO(&r); FD_SET(p[1], &r);
        tv.tv_sec = 0; tv.tv_usec = 10000;
        VAL("select 10ms timeout", select(p[1] + 1, &r, NULL, NULL, &tv));
        /* Below 64: Linux ignores fds past the end of its fd table, whose
         * size depends on what the process inherited. */
        FD_ZERO(&r); FD_SET(50, &r);
        tv.tv_sec = 0; tv.tv_usec = 0;
        VAL("select on closed fd 50", select(51, &r, NULL, NULL, &tv));
        VAL("select nfds -1", select(-1, NULL, NULL, NULL, &tv));
    }
    close(p[0]);
    close(p[1]);

    /* --- capacity ------------------------------------------------------- */
    pipe2(p, O_NONBLOCK);
    VAL("F_GETPIPE_SZ", fcntl(p[1], F_GETPIPE_SZ));
    {
        long total = 0, r;
        char chunk[4096];
        memset(chunk, 'c', sizeof chunk);
        while ((r = write(p[1], chunk, sizeof chunk)) > 0) total += r;
        printf("nonblocking fill with 4096-byte writes: %ld bytes, then %s\n", total,
               errname(errno));
        revents("poll full write end", p[1], POLLOUT);
        VAL("write 1 more byte", write(p[1], "x", 1));
        VAL("read 4096", read(p[0], buf, 4096));
        VAL("write 8192 after freeing 4096 (short)", write(p[1], buf, 8192));
        VAL("write 1 more byte", write(p[1], "x", 1));
        VAL("read 10000", read(p[0], buf, 10000));
        VAL("write 4096 (atomic, fits)", write(p[1], buf, 4096));
        total = 0;
        while ((r = read(p[0], buf, sizeof buf)) > 0) total += r;
        printf("drained %ld bytes, then %s\n", total, errname(errno));
    }
    close(p[0]);
    close(p[1]);

    /* blocking writer is resumed by a reader in another process */
    pipe(p);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        memset(buf, 'w', 200000 > sizeof buf ? sizeof buf : 200000);
        long total = 0;
        for (int i = 0; i < 3; i++) total += write(p[1], buf, 65536);
        _exit(total == 3 * 65536 ? 0 : 1);
    }
    close(p[1]);
    {
        long total = 0, r;
        msleep(20);
        while ((r = read(p[0], buf, 5000)) > 0) total += r;
        int stt;
        waitpid(pid, &stt, 0);
        printf("blocking writer of 3x64KiB: reader got %ld bytes, writer %s\n", total,
               wstatus_str(stt));
    }
    close(p[0]);

    /* blocking read woken by a later write */
    pipe(p);
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        close(p[0]);
        msleep(30);
        write(p[1], "late", 4);
        _exit(0);
    }
    close(p[1]);
    {
        long r = read(p[0], buf, 10);
        print_bytes("blocking read woken by child's write", buf, r);
        VAL("then EOF when child exits", read(p[0], buf, 10));
        int stt;
        waitpid(pid, &stt, 0);
    }
    close(p[0]);

    /* --- EPIPE / SIGPIPE ------------------------------------------------ */
    signal(SIGPIPE, SIG_IGN);
    pipe(p);
    close(p[0]);
    VAL("write with reader closed, SIGPIPE ignored", write(p[1], "x", 1));
    close(p[1]);
    signal(SIGPIPE, SIG_DFL);
    pipe(p);
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        close(p[0]);
        msleep(10);
        write(p[1], "x", 1);
        _exit(0);   /* not reached: killed by SIGPIPE */
    }
    close(p[0]);
    close(p[1]);
    {
        int stt;
        waitpid(pid, &stt, 0);
        printf("child writing to a broken pipe (SIGPIPE default): %s\n", wstatus_str(stt));
    }
    /* SIGPIPE blocked: EPIPE returned and SIGPIPE left pending */
    {
        sigset_t s, pend;
        sigemptyset(&s);
        sigaddset(&s, SIGPIPE);
        sigprocmask(SIG_BLOCK, &s, NULL);
        pipe(p);
        close(p[0]);
        VAL("write with reader closed, SIGPIPE blocked", write(p[1], "x", 1));
        sigpending(&pend);
        YESNO("  SIGPIPE pending", sigismember(&pend, SIGPIPE));
        signal(SIGPIPE, SIG_IGN);   /* discards the pending signal */
        sigpending(&pend);
        YESNO("  still pending after SIG_IGN", sigismember(&pend, SIGPIPE));
        sigprocmask(SIG_UNBLOCK, &s, NULL);
        close(p[1]);
    }

    guest_cleanup();
    printf("done\n");
    return 0;
}
