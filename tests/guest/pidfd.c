/* pidfds: pidfd_open, poll/epoll/select on a pidfd, waitid(P_PIDFD)
 * (WNOHANG, WNOWAIT, nonblocking pidfds), pidfd_send_signal (with and
 * without a siginfo), pidfd_getfd, CLONE_PIDFD through clone and clone3,
 * and the errors of each.  Raw syscall numbers: old libcs have no
 * wrappers.  Only booleans, statuses and errno names are printed. */
#include "common.h"
#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/syscall.h>

#define NR_pidfd_send_signal 424
#define NR_pidfd_open 434
#define NR_clone3 435
#define NR_pidfd_getfd 438
#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#define PIDFD_NONBLOCK O_NONBLOCK
#define X_CLONE_PIDFD 0x1000
#define X_CLONE_PARENT_SETTID 0x00100000
#define X_CLONE_DETACHED 0x00400000

struct clone_args_v0 {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

static int pidfd_open(pid_t pid, unsigned flags)
{
    return syscall(NR_pidfd_open, pid, flags);
}
static int pidfd_send_signal(int fd, int sig, siginfo_t *info, unsigned flags)
{
    return syscall(NR_pidfd_send_signal, fd, sig, info, flags);
}
static int pidfd_getfd(int fd, int target, unsigned flags)
{
    return syscall(NR_pidfd_getfd, fd, target, flags);
}

static const char *events(short r)
{
    static char buf[64];
    buf[0] = 0;
    if (r & POLLIN) strcat(buf, "IN ");
    if (r & POLLRDNORM) strcat(buf, "RDNORM ");
    if (r & POLLOUT) strcat(buf, "OUT ");
    if (r & POLLHUP) strcat(buf, "HUP ");
    if (r & POLLERR) strcat(buf, "ERR ");
    if (!buf[0]) strcat(buf, "none ");
    buf[strlen(buf) - 1] = 0;
    return buf;
}

static void poll_once(const char *label, int fd, short ev, int timeout)
{
    struct pollfd p = { .fd = fd, .events = ev };
    int r = poll(&p, 1, timeout);
    if (r < 0) printf("%s: %s\n", label, errname(errno));
    else printf("%s: %d %s\n", label, r, events(p.revents));
}

/* waitid(P_PIDFD) and what it reports, without the pid. */
static void wait_pidfd(const char *label, int fd, int options, pid_t expect)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    errno = 0;
    int r = waitid(P_PIDFD, fd, &si, options);
    if (r < 0) {
        printf("%s: %s\n", label, errname(errno));
        return;
    }
    if (si.si_pid == 0) {
        printf("%s: nothing\n", label);
        return;
    }
    const char *code = si.si_code == CLD_EXITED ? "exited" : si.si_code == CLD_KILLED ? "killed"
                     : si.si_code == CLD_DUMPED ? "dumped" : "other";
    char st[32];
    if (si.si_code == CLD_EXITED) snprintf(st, sizeof st, "%d", si.si_status);
    else snprintf(st, sizeof st, "%s", signame(si.si_status));
    printf("%s: %s %s pid-match=%s\n", label, code, st, si.si_pid == expect ? "yes" : "no");
}

static void cloexec(const char *label, int fd)
{
    int f = fcntl(fd, F_GETFD);
    if (f < 0) printf("%s: %s\n", label, errname(errno));
    else YESNO(label, f & FD_CLOEXEC);
}

/* A child that waits for a byte on `go` and then exits with `code`. */
static pid_t waiting_child(int *go_w, int code)
{
    int p[2];
    if (pipe(p) != 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        close(p[1]);
        while (read(p[0], &c, 1) < 0 && errno == EINTR) {}
        _exit(code);
    }
    close(p[0]);
    *go_w = p[1];
    return pid;
}

static void lifecycle(void)
{
    int go;
    pid_t pid = waiting_child(&go, 7);
    int fd = pidfd_open(pid, 0);
    YESNO("open", fd >= 0);
    cloexec("open cloexec", fd);
    YESNO("open nonblock", fcntl(fd, F_GETFL) & O_NONBLOCK);
    char link[64] = {0}, path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    VAL("readlink len", readlink(path, link, sizeof link - 1));
    printf("readlink: %s\n", link);
    char b[8];
    RES("read", read(fd, b, sizeof b));
    RES("write", write(fd, "x", 1));
    poll_once("poll live", fd, POLLIN, 0);
    wait_pidfd("waitid live nohang", fd, WEXITED | WNOHANG, pid);
    int nb = pidfd_open(pid, PIDFD_NONBLOCK);
    YESNO("open nonblocking", nb >= 0);
    YESNO("nonblocking flag", fcntl(nb, F_GETFL) & O_NONBLOCK);
    wait_pidfd("waitid nonblocking", nb, WEXITED, pid);
    wait_pidfd("waitid nonblocking nohang", nb, WEXITED | WNOHANG, pid);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN, .data.u32 = 77 };
    RES("epoll_ctl", epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev));
    struct epoll_event out;
    VAL("epoll live", epoll_wait(ep, &out, 1, 0));
    RES("send 0 live", pidfd_send_signal(fd, 0, NULL, 0));

    /* Let it exit: a blocked poll wakes. */
    RES("go", write(go, "g", 1));
    poll_once("poll exit", fd, POLLIN, -1);
    poll_once("poll zombie all", fd, POLLIN | POLLRDNORM | POLLOUT, 0);
    memset(&out, 0, sizeof out);
    VAL("epoll zombie", epoll_wait(ep, &out, 1, -1));
    YESNO("epoll data", out.data.u32 == 77 && (out.events & EPOLLIN));
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(fd, &rs);
    struct timeval tv = { 0, 0 };
    VAL("select zombie", select(fd + 1, &rs, NULL, NULL, &tv));
    RES("send 0 zombie", pidfd_send_signal(fd, 0, NULL, 0));
    RES("send TERM zombie", pidfd_send_signal(fd, SIGTERM, NULL, 0));
    RES("getfd zombie", pidfd_getfd(fd, 0, 0));
    wait_pidfd("waitid nowait", fd, WEXITED | WNOWAIT, pid);
    wait_pidfd("waitid nonblocking zombie", nb, WEXITED | WNOWAIT, pid);
    wait_pidfd("waitid reap", fd, WEXITED, pid);

    /* Reaped: POLLHUP too, and the pidfd names nobody. */
    poll_once("poll reaped", fd, POLLIN, 0);
    wait_pidfd("waitid reaped", fd, WEXITED | WNOHANG, pid);
    RES("send reaped", pidfd_send_signal(fd, SIGTERM, NULL, 0));
    RES("send 0 reaped", pidfd_send_signal(fd, 0, NULL, 0));
    RES("getfd reaped", pidfd_getfd(fd, 0, 0));
    RES("open reaped", pidfd_open(pid, 0));
    close(ep);
    close(nb);
    close(fd);
    close(go);
}

static volatile sig_atomic_t got_code, got_value, got_sig;
static void on_usr1(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    got_sig = sig;
    got_code = si->si_code;
    got_value = si->si_value.sival_int;
}

static void signalling(void)
{
    /* A plain signal kills the child. */
    int go;
    pid_t pid = waiting_child(&go, 0);
    int fd = pidfd_open(pid, 0);
    RES("send TERM", pidfd_send_signal(fd, SIGTERM, NULL, 0));
    wait_pidfd("waitid killed", fd, WEXITED, pid);
    close(go);
    close(fd);

    /* A /proc/PID directory serves as a pidfd (CPython's test_signal
     * uses its own); other directories do not. */
    int go2;
    pid_t p2 = waiting_child(&go2, 0);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d", (int)p2);
    int dfd = open(path, O_RDONLY | O_DIRECTORY);
    RES("send 0 through /proc/PID", pidfd_send_signal(dfd, 0, NULL, 0));
    RES("send TERM through /proc/PID", pidfd_send_signal(dfd, SIGTERM, NULL, 0));
    int st2;
    waitpid(p2, &st2, 0);
    printf("killed through /proc/PID: %s\n", WIFSIGNALED(st2) && WTERMSIG(st2) == SIGTERM ? "yes" : "no");
    RES("send to a reaped /proc/PID", pidfd_send_signal(dfd, 0, NULL, 0));
    close(dfd);
    close(go2);
    int root = open("/", O_RDONLY | O_DIRECTORY);
    RES("send through /", pidfd_send_signal(root, 0, NULL, 0));
    close(root);

    /* With a siginfo: SI_QUEUE and its value reach the handler. */
    int rep[2];
    pipe(rep);
    sigset_t usr1, old;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, &old);
    pid = fork();
    if (pid == 0) {
        struct sigaction sa = { .sa_sigaction = on_usr1, .sa_flags = SA_SIGINFO };
        sigaction(SIGUSR1, &sa, NULL);
        close(rep[0]);
        write(rep[1], "r", 1);
        sigset_t none;
        sigemptyset(&none);
        while (!got_sig) sigsuspend(&none);
        char msg[2] = { got_code == SI_QUEUE ? 'q' : '?', got_value == 42 ? 'v' : '?' };
        write(rep[1], msg, 2);
        _exit(0);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    close(rep[1]);
    char c;
    read(rep[0], &c, 1);
    fd = pidfd_open(pid, 0);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    si.si_signo = SIGUSR1;
    si.si_code = SI_USER;
    RES("send info SI_USER other", pidfd_send_signal(fd, SIGUSR1, &si, 0));
    si.si_code = SI_TKILL;
    RES("send info SI_TKILL other", pidfd_send_signal(fd, SIGUSR1, &si, 0));
    si.si_code = SI_QUEUE;
    RES("send info signo mismatch", pidfd_send_signal(fd, SIGUSR2, &si, 0));
    RES("send info EFAULT", pidfd_send_signal(fd, SIGUSR1, (siginfo_t *)8, 0));
    RES("send bad flags", pidfd_send_signal(fd, SIGUSR1, NULL, 8));
    RES("send two scopes", pidfd_send_signal(fd, SIGUSR1, NULL, 1 | 2));
    RES("send sig 65", pidfd_send_signal(fd, 65, NULL, 0));
    RES("send sig -1", pidfd_send_signal(fd, -1, NULL, 0));
    si.si_value.sival_int = 42;
    RES("send info SI_QUEUE", pidfd_send_signal(fd, SIGUSR1, &si, 0));
    char msg[3] = {0};
    int n = read(rep[0], msg, 2);
    printf("handler saw: %d %s\n", n, msg);
    wait_pidfd("waitid queued", fd, WEXITED, pid);
    close(rep[0]);

    /* Not a pidfd. */
    int p[2];
    pipe(p);
    RES("send pipe fd", pidfd_send_signal(p[0], SIGTERM, NULL, 0));
    RES("send fd -1", pidfd_send_signal(-1, SIGTERM, NULL, 0));
    RES("send closed fd", pidfd_send_signal(900, SIGTERM, NULL, 0));
    close(p[0]);
    close(p[1]);
    close(fd);

    /* To itself: any si_code, as rt_sigqueueinfo. */
    int self = pidfd_open(getpid(), 0);
    sigset_t usr2;
    sigemptyset(&usr2);
    sigaddset(&usr2, SIGUSR2);
    sigprocmask(SIG_BLOCK, &usr2, &old);
    memset(&si, 0, sizeof si);
    si.si_signo = SIGUSR2;
    si.si_code = SI_USER;
    si.si_pid = getpid();
    si.si_uid = getuid();
    RES("send self SI_USER", pidfd_send_signal(self, SIGUSR2, &si, 0));
    struct timespec zero = { 0, 0 };
    siginfo_t got;
    memset(&got, 0, sizeof got);
    int s = sigtimedwait(&usr2, &got, &zero);
    printf("self got: %s code-user=%s\n", signame(s), got.si_code == SI_USER ? "yes" : "no");
    RES("send self thread scope", pidfd_send_signal(self, SIGUSR2, NULL, 1));
    memset(&got, 0, sizeof got);
    s = sigtimedwait(&usr2, &got, &zero);
    printf("self got: %s code-tkill=%s\n", signame(s), got.si_code == SI_TKILL ? "yes" : "no");
    sigprocmask(SIG_SETMASK, &old, NULL);
    wait_pidfd("waitid self", self, WEXITED | WNOHANG, getpid());
    close(self);
}

static void getfd(void)
{
    /* The child makes a pipe and says which fds its ends are. */
    int rep[2], go;
    pipe(rep);
    int gop[2];
    pipe(gop);
    pid_t pid = fork();
    if (pid == 0) {
        close(rep[0]);
        close(gop[1]);
        int p[2];
        pipe(p);
        write(rep[1], p, sizeof p);
        char c;
        read(gop[0], &c, 1);
        _exit(0);
    }
    close(rep[1]);
    close(gop[0]);
    go = gop[1];
    int ends[2];
    YESNO("child fds", read(rep[0], ends, sizeof ends) == sizeof ends);
    int fd = pidfd_open(pid, 0);
    int w = pidfd_getfd(fd, ends[1], 0);
    YESNO("getfd write end", w >= 0);
    cloexec("getfd cloexec", w);
    int r = pidfd_getfd(fd, ends[0], 0);
    YESNO("getfd read end", r >= 0);
    VAL("write through", write(w, "hello", 5));
    char buf[8] = {0};
    VAL("read through", read(r, buf, sizeof buf - 1));
    printf("data: %s\n", buf);
    RES("getfd bad fd", pidfd_getfd(fd, 900, 0));
    RES("getfd fd -1", pidfd_getfd(fd, -1, 0));
    RES("getfd flags", pidfd_getfd(fd, ends[0], 1));
    RES("getfd not pidfd", pidfd_getfd(rep[0], 0, 0));
    RES("getfd closed pidfd", pidfd_getfd(900, 0, 0));
    int self = pidfd_open(getpid(), 0);
    int d = pidfd_getfd(self, w, 0);
    YESNO("getfd self", d >= 0);
    close(d);
    close(self);
    close(w);
    close(r);
    write(go, "g", 1);
    wait_pidfd("waitid getfd child", fd, WEXITED, pid);
    close(go);
    close(rep[0]);
    close(fd);
}

static void opening(void)
{
    RES("open flags 1", pidfd_open(getpid(), 1));
    RES("open flags NONBLOCK|1", pidfd_open(getpid(), PIDFD_NONBLOCK | 1));
    RES("open pid 0", pidfd_open(0, 0));
    RES("open pid -1", pidfd_open(-1, 0));
    int self = pidfd_open(getpid(), 0);
    YESNO("open self", self >= 0);
    wait_pidfd("waitid self not child", self, WEXITED, getpid());
    wait_pidfd("waitid fd -1", -1, WEXITED, 0);
    wait_pidfd("waitid closed fd", 900, WEXITED, 0);
    int p[2];
    pipe(p);
    wait_pidfd("waitid pipe fd", p[0], WEXITED, 0);
    close(p[0]);
    close(p[1]);
    wait_pidfd("waitid no options", self, 0, 0);
    /* A failed waitid still clears the caller's siginfo fields. */
    siginfo_t si;
    memset(&si, 0xff, sizeof si);
    RES("waitid pipe fd again", waitid(P_PIDFD, p[0] + 100, &si, WEXITED));
    YESNO("failed waitid cleared siginfo", si.si_signo == 0 && si.si_code == 0 && si.si_pid == 0);
    memset(&si, 0xff, sizeof si);
    RES("waitid bad idtype", waitid(17, 0, &si, WEXITED));
    YESNO("bad idtype cleared siginfo", si.si_signo == 0 && si.si_code == 0 && si.si_pid == 0);
    close(self);
}

static void cloning(void)
{
    /* clone3 with CLONE_PIDFD. */
    int pfd = -1;
    struct clone_args_v0 a = { .flags = X_CLONE_PIDFD, .pidfd = (uintptr_t)&pfd,
                               .exit_signal = SIGCHLD };
    long pid = syscall(NR_clone3, &a, sizeof a);
    if (pid == 0) _exit(3);
    YESNO("clone3 pidfd", pid > 0 && pfd >= 0);
    cloexec("clone3 pidfd cloexec", pfd);
    wait_pidfd("clone3 waitid", pfd, WEXITED, pid);
    close(pfd);

    /* With CLONE_PARENT_SETTID at another address: both are written. */
    int ptid = 0;
    pfd = -1;
    a.flags = X_CLONE_PIDFD | X_CLONE_PARENT_SETTID;
    a.parent_tid = (uintptr_t)&ptid;
    pid = syscall(NR_clone3, &a, sizeof a);
    if (pid == 0) _exit(0);
    YESNO("clone3 pidfd+settid", pid > 0 && pfd >= 0 && ptid == pid);
    wait_pidfd("clone3 settid waitid", pfd, WEXITED, pid);
    close(pfd);

    /* At the same address: EINVAL. */
    a.parent_tid = (uintptr_t)&pfd;
    RES("clone3 pidfd same address", syscall(NR_clone3, &a, sizeof a));
    a.flags = X_CLONE_PIDFD;
    a.pidfd = 8;
    RES("clone3 pidfd EFAULT", syscall(NR_clone3, &a, sizeof a));

    /* clone: the pidfd comes back through parent_tid; the child's copy
     * of the fd table was taken before the pidfd was made. */
    pfd = -1;
    pid = syscall(SYS_clone, X_CLONE_PIDFD | SIGCHLD, 0, &pfd, 0, 0);
    if (pid == 0) _exit(fcntl(pfd, F_GETFD) < 0 && errno == EBADF ? 7 : 1);
    YESNO("clone pidfd", pid > 0 && pfd >= 0);
    cloexec("clone pidfd cloexec", pfd);
    wait_pidfd("clone waitid", pfd, WEXITED, pid);
    close(pfd);
    RES("clone pidfd+settid", syscall(SYS_clone, X_CLONE_PIDFD | X_CLONE_PARENT_SETTID | SIGCHLD,
                                      0, &pfd, 0, 0));
    RES("clone pidfd+detached", syscall(SYS_clone, X_CLONE_PIDFD | X_CLONE_DETACHED | SIGCHLD,
                                        0, &pfd, 0, 0));
    int probe = dup(1);
    printf("lowest free fd unchanged: %s\n", probe == 3 ? "yes" : "no");
    close(probe);
}

int main(int argc, char **argv)
{
    guest_init(argc, argv, "pidfd");
    lifecycle();
    signalling();
    getfd();
    opening();
    cloning();
    guest_cleanup();
    return 0;
}
