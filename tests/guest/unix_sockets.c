/* AF_UNIX sockets beyond socketpair: socket(), named and abstract
 * addresses, bind/listen/accept/connect, datagrams with addresses,
 * getsockname/getpeername lengths, SCM_RIGHTS and SCM_CREDENTIALS,
 * SO_PEERCRED and other options, blocking and signals, poll. */
#include "common.h"
#include <poll.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>

#define SUN_OFF offsetof(struct sockaddr_un, sun_path)

static socklen_t mkaddr(struct sockaddr_un *a, const char *path)
{
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    strcpy(a->sun_path, path);
    return SUN_OFF + strlen(path) + 1;
}

/* An abstract name unique to this run (natively all runs share one
 * namespace); only lengths are ever printed. */
static socklen_t mkabs(struct sockaddr_un *a, const char *tag)
{
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    int n = snprintf(a->sun_path + 1, sizeof a->sun_path - 1, "umk-%010d-%s", (int)getpid(), tag);
    return SUN_OFF + 1 + n;
}

static void print_name(const char *label, int fd, int peer)
{
    struct sockaddr_un a;
    memset(&a, 0x55, sizeof a);
    socklen_t l = sizeof a;
    int r = peer ? getpeername(fd, (struct sockaddr *)&a, &l) : getsockname(fd, (struct sockaddr *)&a, &l);
    if (r < 0) {
        printf("%s: %s\n", label, errname(errno));
        return;
    }
    if (l <= SUN_OFF)
        printf("%s: len %d unnamed\n", label, (int)l);
    else if (a.sun_path[0] == 0)
        printf("%s: len %d abstract\n", label, (int)l);
    else
        printf("%s: len %d path [%s]\n", label, (int)l, a.sun_path);
}

static int count_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 256; fd++)
        if (fcntl(fd, F_GETFD) >= 0) n++;
    return n;
}

static volatile int got_signal;
static void on_alarm(int s) { (void)s; got_signal++; }

/* Sends `nfds` fds with one byte. */
static long send_fds(int s, const int *fds, int nfds)
{
    char cbuf[CMSG_SPACE(sizeof(int) * 8)];
    memset(cbuf, 0, sizeof cbuf);
    struct iovec iov = { "F", 1 };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                        .msg_controllen = CMSG_SPACE(sizeof(int) * nfds) };
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    return sendmsg(s, &m, 0);
}

/* Receives one byte and up to 8 fds with a control buffer of `clen`
 * bytes; returns the fd count and stores them. */
static int recv_fds(int s, int *fds, size_t clen, int flags, int *msg_flags)
{
    char cbuf[512];
    char b;
    struct iovec iov = { &b, 1 };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = clen };
    long r = recvmsg(s, &m, flags);
    if (r < 0) {
        printf("recvmsg fds: %s\n", errname(errno));
        return -1;
    }
    *msg_flags = m.msg_flags;
    int n = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            int k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            memcpy(fds + n, CMSG_DATA(c), sizeof(int) * k);
            n += k;
        }
    return n;
}

static void test_socket_calls(void)
{
    VAL("socket family 99", socket(99, SOCK_STREAM, 0));
    VAL("socket bad type", socket(AF_UNIX, 99, 0));
    VAL("socket bad flags", socket(AF_UNIX, SOCK_STREAM | 0x100, 0));
    VAL("socket rdm", socket(AF_UNIX, SOCK_RDM, 0));
    VAL("socket protocol 2", socket(AF_UNIX, SOCK_STREAM, 2));
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    printf("socket stream: %s\n", s >= 0 ? "ok" : errname(errno));
    YESNO("nonblock", fcntl(s, F_GETFL) & O_NONBLOCK);
    YESNO("cloexec", fcntl(s, F_GETFD) & FD_CLOEXEC);
    int v = -1;
    socklen_t l = sizeof v;
    getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &l);
    printf("SO_TYPE %d\n", v);
    getsockopt(s, SOL_SOCKET, SO_DOMAIN, &v, &l);
    printf("SO_DOMAIN %d\n", v);
    getsockopt(s, SOL_SOCKET, SO_ACCEPTCONN, &v, &l);
    printf("SO_ACCEPTCONN %d\n", v);
    getsockopt(s, SOL_SOCKET, SO_ERROR, &v, &l);
    printf("SO_ERROR %d\n", v);
    v = 1;
    VAL("SO_REUSEADDR set", setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &v, sizeof v));
    getsockopt(s, SOL_SOCKET, SO_REUSEADDR, &v, &l);
    printf("SO_REUSEADDR %d\n", v);
    v = 65536;
    setsockopt(s, SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
    getsockopt(s, SOL_SOCKET, SO_SNDBUF, &v, &l);
    printf("SO_SNDBUF after 65536: %d\n", v);
    VAL("setsockopt short", setsockopt(s, SOL_SOCKET, SO_PASSCRED, &v, 2));
    VAL("getsockopt tcp level", getsockopt(s, 6 /* IPPROTO_TCP */, 1, &v, &l));
    VAL("getsockopt unknown", getsockopt(s, SOL_SOCKET, 9999, &v, &l));
    struct ucred uc;
    l = sizeof uc;
    getsockopt(s, SOL_SOCKET, SO_PEERCRED, &uc, &l);
    printf("SO_PEERCRED unconnected: pid %d uid %d gid %d len %d\n", uc.pid, (int)uc.uid, (int)uc.gid, (int)l);
    struct pollfd p = { s, POLLIN | POLLOUT, 0 };
    poll(&p, 1, 0);
    printf("poll fresh stream: %#x\n", p.revents);
    print_name("getsockname fresh", s, 0);
    print_name("getpeername fresh", s, 1);
    char b[4];
    VAL("send unconnected", send(s, "x", 1, 0));
    VAL("recv unconnected", recv(s, b, 1, 0));
    VAL("listen unbound", listen(s, 1));
    VAL("accept unlistened", accept(s, NULL, NULL));
    VAL("shutdown unconnected", shutdown(s, SHUT_RDWR));
    close(s);
    int d = socket(AF_UNIX, SOCK_DGRAM, 0);
    p.fd = d;
    poll(&p, 1, 0);
    printf("poll fresh dgram: %#x\n", p.revents);
    VAL("listen dgram", listen(d, 1));
    VAL("accept dgram", accept(d, NULL, NULL));
    VAL("send dgram unconnected", send(d, "x", 1, 0));
    close(d);
    int pp[2];
    pipe(pp);
    struct sockaddr_un a;
    socklen_t al = mkaddr(&a, "x.sock");
    VAL("bind on a pipe", bind(pp[0], (struct sockaddr *)&a, al));
    VAL("accept on a pipe", accept(pp[0], NULL, NULL));
    VAL("getsockname on a pipe", getsockname(pp[0], (struct sockaddr *)&a, &al));
    VAL("listen bad fd", listen(99, 1));
    close(pp[0]);
    close(pp[1]);
}

static void test_bind_errors(void)
{
    struct sockaddr_un a;
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    socklen_t al = mkaddr(&a, "b.sock");
    VAL("bind addrlen 1", bind(s, (struct sockaddr *)&a, 1));
    VAL("bind addrlen 111", bind(s, (struct sockaddr *)&a, 111));
    VAL("bind addrlen 200", bind(s, (struct sockaddr *)&a, 200));
    VAL("bind addrlen -1", bind(s, (struct sockaddr *)&a, -1));
    VAL("bind bad pointer", bind(s, (struct sockaddr *)1, al));
    a.sun_family = AF_INET;
    VAL("bind wrong family", bind(s, (struct sockaddr *)&a, al));
    a.sun_family = AF_UNIX;
    VAL("bind missing dir", bind(s, (struct sockaddr *)&a, mkaddr(&a, "nodir/b.sock")));
    mkaddr(&a, "b.sock");
    umask(022);
    VAL("bind", bind(s, (struct sockaddr *)&a, al));
    struct stat st;
    stat("b.sock", &st);
    printf("socket file: type %c mode %o\n", type_char(st.st_mode), st.st_mode & 0777);
    VAL("open socket file", open("b.sock", O_RDWR));
    int s2 = socket(AF_UNIX, SOCK_STREAM, 0);
    VAL("bind existing path", bind(s2, (struct sockaddr *)&a, al));
    write_file("plain", "x");
    VAL("bind over a file", bind(s2, (struct sockaddr *)&a, mkaddr(&a, "plain")));
    VAL("bind bound socket", bind(s, (struct sockaddr *)&a, mkaddr(&a, "c.sock")));
    YESNO("c.sock left behind", access("c.sock", F_OK) == 0);
    close(s);
    close(s2);
    unlink("b.sock");
    unlink("plain");
}

/* A named stream server; the client is a forked child. */
static void test_named_stream(void)
{
    struct sockaddr_un a;
    socklen_t al = mkaddr(&a, "srv.sock");
    int ls = socket(AF_UNIX, SOCK_STREAM, 0);
    VAL("bind srv", bind(ls, (struct sockaddr *)&a, al));
    VAL("listen", listen(ls, 5));
    int v = 0;
    socklen_t l = sizeof v;
    getsockopt(ls, SOL_SOCKET, SO_ACCEPTCONN, &v, &l);
    printf("SO_ACCEPTCONN listening %d\n", v);
    print_name("getsockname listener", ls, 0);
    struct pollfd p = { ls, POLLIN, 0 };
    VAL("poll listener idle", poll(&p, 1, 0));
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN }, out;
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    int sync[2];
    pipe(sync);
    pid_t child = fork();
    if (child == 0) {
        int c = socket(AF_UNIX, SOCK_STREAM, 0);
        int r = connect(c, (struct sockaddr *)&a, al);
        char b[64];
        read(sync[0], b, 1);   /* the parent printed its part */
        printf("child connect: %s\n", r == 0 ? "ok" : errname(errno));
        print_name("child getpeername", c, 1);
        print_name("child getsockname", c, 0);
        struct ucred uc;
        socklen_t ul = sizeof uc;
        getsockopt(c, SOL_SOCKET, SO_PEERCRED, &uc, &ul);
        printf("child SO_PEERCRED pid is parent: %s, uid ok: %s\n",
               uc.pid == getppid() ? "yes" : "no", uc.uid == geteuid() ? "yes" : "no");
        VAL("child connect again", connect(c, (struct sockaddr *)&a, al));
        VAL("child sendto with address", sendto(c, "x", 1, 0, (struct sockaddr *)&a, al));
        send(c, "hello", 5, 0);
        long n = recv(c, b, sizeof b, 0);
        print_bytes("child got", b, n > 0 ? n : 0);
        VAL("child recv at EOF", recv(c, b, sizeof b, 0));
        _exit(0);
    }
    VAL("poll listener pending", poll(&p, 1, 5000));
    printf("revents %#x\n", p.revents);
    VAL("epoll listener pending", epoll_wait(ep, &out, 1, 5000));
    struct sockaddr_un peer;
    memset(&peer, 0x55, sizeof peer);
    socklen_t pl = sizeof peer;
    int c = accept(ls, (struct sockaddr *)&peer, &pl);
    printf("accept: %s, addrlen %d\n", c >= 0 ? "ok" : errname(errno), (int)pl);
    print_name("server getsockname", c, 0);
    print_name("server getpeername", c, 1);
    struct ucred uc;
    socklen_t ul = sizeof uc;
    getsockopt(c, SOL_SOCKET, SO_PEERCRED, &uc, &ul);
    printf("server SO_PEERCRED pid is child: %s, len %d\n", uc.pid == child ? "yes" : "no", (int)ul);
    write(sync[1], "g", 1);
    char b[64];
    long n = read(c, b, sizeof b);
    print_bytes("server got", b, n > 0 ? n : 0);
    send(c, "world", 5, 0);
    close(c);
    int st;
    waitpid(child, &st, 0);
    printf("child %s\n", wstatus_str(st));
    /* Connect a socket of the wrong type; to a path with no listener. */
    int d = socket(AF_UNIX, SOCK_DGRAM, 0);
    VAL("dgram connect to stream listener", connect(d, (struct sockaddr *)&a, al));
    close(d);
    int q = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    VAL("seqpacket connect to stream listener", connect(q, (struct sockaddr *)&a, al));
    close(q);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un x;
    VAL("connect missing", connect(s, (struct sockaddr *)&x, mkaddr(&x, "missing.sock")));
    write_file("plain", "x");
    VAL("connect regular file", connect(s, (struct sockaddr *)&x, mkaddr(&x, "plain")));
    unlink("plain");
    VAL("connect addrlen 0", connect(s, (struct sockaddr *)&a, 0));
    VAL("connect bad pointer", connect(s, (struct sockaddr *)8, al));
    int bound = socket(AF_UNIX, SOCK_STREAM, 0);
    bind(bound, (struct sockaddr *)&x, mkaddr(&x, "quiet.sock"));
    VAL("connect bound, not listening", connect(s, (struct sockaddr *)&x, mkaddr(&x, "quiet.sock")));
    close(bound);
    VAL("connect closed socket's file", connect(s, (struct sockaddr *)&x, mkaddr(&x, "quiet.sock")));
    unlink("quiet.sock");
    /* Permission: write access to the socket file is needed. */
    chmod("srv.sock", 0);
    child = fork();
    if (child == 0) {
        if (geteuid() == 0) setuid(65534);
        int t = socket(AF_UNIX, SOCK_STREAM, 0);
        VAL("connect without write permission", connect(t, (struct sockaddr *)&a, al));
        _exit(0);
    }
    waitpid(child, &st, 0);
    chmod("srv.sock", 0777);
    /* An unlinked socket file can no longer be reached; a new one can. */
    unlink("srv.sock");
    VAL("connect after unlink", connect(s, (struct sockaddr *)&a, al));
    int ls2 = socket(AF_UNIX, SOCK_STREAM, 0);
    VAL("bind the path again", bind(ls2, (struct sockaddr *)&a, al));
    listen(ls2, 1);
    VAL("connect to the new one", connect(s, (struct sockaddr *)&a, al));
    VAL("connect connected", connect(s, (struct sockaddr *)&a, al));
    VAL("listen connected", listen(s, 1));
    close(s);
    close(ls2);
    unlink("srv.sock");
    close(ls);
    close(ep);
    close(sync[0]);
    close(sync[1]);
}

static void test_backlog_and_nonblocking(void)
{
    struct sockaddr_un a;
    socklen_t al = mkaddr(&a, "bl.sock");
    int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    bind(ls, (struct sockaddr *)&a, al);
    listen(ls, 0);
    VAL("accept nonblocking empty", accept(ls, NULL, NULL));
    int c1 = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int c2 = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int c3 = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    VAL("connect 1 (backlog 0)", connect(c1, (struct sockaddr *)&a, al));
    VAL("connect 2 (backlog 0)", connect(c2, (struct sockaddr *)&a, al));
    VAL("listen again, backlog 1", listen(ls, 1));
    VAL("connect 2 (backlog 1)", connect(c2, (struct sockaddr *)&a, al));
    VAL("connect 3 (backlog 1)", connect(c3, (struct sockaddr *)&a, al));
    /* Data written before the accept is there after it. */
    VAL("write before accept", write(c1, "early", 5));
    int s1 = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    printf("accept4: %s\n", s1 >= 0 ? "ok" : errname(errno));
    YESNO("accepted nonblock", fcntl(s1, F_GETFL) & O_NONBLOCK);
    YESNO("accepted cloexec", fcntl(s1, F_GETFD) & FD_CLOEXEC);
    char b[16];
    VAL("read early", read(s1, b, sizeof b));
    VAL("read empty", read(s1, b, sizeof b));
    /* Closing the listener resets connections nobody accepted. */
    close(ls);
    VAL("unaccepted client read", read(c2, b, sizeof b));
    VAL("unaccepted client read again", read(c2, b, sizeof b));
    int e = -1;
    socklen_t l = sizeof e;
    getsockopt(c2, SOL_SOCKET, SO_ERROR, &e, &l);
    printf("SO_ERROR after reset %s\n", errname(e));
    /* A peer closing with unread data resets too; without, it is EOF. */
    write(s1, "unread", 6);
    write(c1, "unread", 6);
    close(s1);
    VAL("read after peer closed with unread data", read(c1, b, sizeof b));
    VAL("read after that", read(c1, b, sizeof b));
    VAL("read at EOF", read(c1, b, sizeof b));
    signal(SIGPIPE, SIG_IGN);
    VAL("write to closed peer", write(c1, "x", 1));
    signal(SIGPIPE, SIG_DFL);
    close(c1);
    close(c2);
    close(c3);
    unlink("bl.sock");
}

static void test_accept_signals(void)
{
    struct sockaddr_un a;
    socklen_t al = mkaddr(&a, "sig.sock");
    int ls = socket(AF_UNIX, SOCK_STREAM, 0);
    bind(ls, (struct sockaddr *)&a, al);
    listen(ls, 1);
    struct sigaction sa = { .sa_handler = on_alarm };
    sigaction(SIGALRM, &sa, NULL);
    got_signal = 0;
    ualarm(100000, 0);
    VAL("blocking accept, signal without SA_RESTART", accept(ls, NULL, NULL));
    printf("handler ran %d\n", got_signal);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    got_signal = 0;
    pid_t child = fork();
    if (child == 0) {
        usleep(400000);
        int c = socket(AF_UNIX, SOCK_STREAM, 0);
        connect(c, (struct sockaddr *)&a, al);
        write(c, "R", 1);
        _exit(0);
    }
    ualarm(100000, 0);
    int c = accept(ls, NULL, NULL);
    printf("blocking accept, signal with SA_RESTART: %s\n", c >= 0 ? "ok" : errname(errno));
    printf("handler ran %d\n", got_signal);
    char b;
    VAL("read from restarted accept", read(c, &b, 1));
    int st;
    waitpid(child, &st, 0);
    signal(SIGALRM, SIG_DFL);
    close(c);
    close(ls);
    unlink("sig.sock");
}

static void test_abstract(void)
{
    struct sockaddr_un a, b;
    socklen_t al = mkabs(&a, "abs");
    int ls = socket(AF_UNIX, SOCK_STREAM, 0);
    VAL("bind abstract", bind(ls, (struct sockaddr *)&a, al));
    YESNO("abstract name len as given", ({
              socklen_t l = sizeof b;
              getsockname(ls, (struct sockaddr *)&b, &l);
              l == al && memcmp(&a, &b, al) == 0;
          }));
    listen(ls, 1);
    int s2 = socket(AF_UNIX, SOCK_STREAM, 0);
    VAL("bind abstract again", bind(s2, (struct sockaddr *)&a, al));
    int d = socket(AF_UNIX, SOCK_DGRAM, 0);
    VAL("bind abstract, other type", bind(d, (struct sockaddr *)&a, al));
    int q = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    VAL("seqpacket connect to stream's abstract name", connect(q, (struct sockaddr *)&a, al));
    VAL("connect abstract", connect(s2, (struct sockaddr *)&a, al));
    int c = accept(ls, NULL, NULL);
    print_name("accepted getsockname", c, 0);
    print_name("client getpeername", s2, 1);
    close(c);
    close(s2);
    close(q);
    close(d);
    close(ls);
    int r = socket(AF_UNIX, SOCK_STREAM, 0);
    VAL("connect abstract after close", connect(r, (struct sockaddr *)&a, al));
    /* The name is free again once its socket is closed. */
    int ls3 = socket(AF_UNIX, SOCK_STREAM, 0);
    VAL("bind abstract after close", bind(ls3, (struct sockaddr *)&a, al));
    close(ls3);
    close(r);
    /* Autobind: a bare family gets "\0" and five hex digits. */
    int s = socket(AF_UNIX, SOCK_DGRAM, 0);
    memset(&b, 0, sizeof b);
    b.sun_family = AF_UNIX;
    VAL("autobind", bind(s, (struct sockaddr *)&b, sizeof(sa_family_t)));
    socklen_t l = sizeof b;
    getsockname(s, (struct sockaddr *)&b, &l);
    int hex = 1;
    for (int i = 1; i < 6; i++)
        if (!strchr("0123456789abcdef", b.sun_path[i])) hex = 0;
    printf("autobind name: len %d, abstract %s, hex %s\n", (int)l, b.sun_path[0] == 0 ? "yes" : "no", hex ? "yes" : "no");
    VAL("autobind again", bind(s, (struct sockaddr *)&b, sizeof(sa_family_t)));
    VAL("bind named after autobind", bind(s, (struct sockaddr *)&a, al));
    close(s);
}

static void test_dgram(void)
{
    struct sockaddr_un sa, ca, from;
    socklen_t sal = mkaddr(&sa, "dg.sock");
    int srv = socket(AF_UNIX, SOCK_DGRAM, 0);
    VAL("bind dgram", bind(srv, (struct sockaddr *)&sa, sal));
    int cl = socket(AF_UNIX, SOCK_DGRAM, 0);
    VAL("sendto unbound sender", sendto(cl, "one", 3, 0, (struct sockaddr *)&sa, sal));
    char b[64];
    memset(&from, 0x55, sizeof from);
    socklen_t fl = sizeof from;
    VAL("recvfrom", recvfrom(srv, b, sizeof b, 0, (struct sockaddr *)&from, &fl));
    printf("from len %d\n", (int)fl);
    socklen_t cal = mkaddr(&ca, "dgc.sock");
    VAL("bind client", bind(cl, (struct sockaddr *)&ca, cal));
    VAL("sendto bound sender", sendto(cl, "two", 3, 0, (struct sockaddr *)&sa, sal));
    fl = sizeof from;
    VAL("recvfrom", recvfrom(srv, b, sizeof b, 0, (struct sockaddr *)&from, &fl));
    printf("from len %d path [%s]\n", (int)fl, from.sun_path);
    VAL("reply to the sender's address", sendto(srv, "back", 4, 0, (struct sockaddr *)&from, fl));
    fl = 4;
    memset(&from, 0, sizeof from);
    VAL("recvfrom, short address buffer", recvfrom(cl, b, sizeof b, 0, (struct sockaddr *)&from, &fl));
    printf("from len %d, copied [%c%c]\n", (int)fl, from.sun_path[0], from.sun_path[1]);
    /* Boundaries and truncation. */
    sendto(cl, "hello", 5, 0, (struct sockaddr *)&sa, sal);
    VAL("recv 2 of 5 with MSG_TRUNC", recv(srv, b, 2, MSG_TRUNC));
    sendto(cl, "hello", 5, 0, (struct sockaddr *)&sa, sal);
    struct iovec iov = { b, 2 };
    struct msghdr m = { .msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1 };
    VAL("recvmsg 2 of 5", recvmsg(srv, &m, 0));
    printf("msg_flags MSG_TRUNC %s, namelen %d\n", m.msg_flags & MSG_TRUNC ? "yes" : "no", (int)m.msg_namelen);
    VAL("zero-length datagram", sendto(cl, "", 0, 0, (struct sockaddr *)&sa, sal));
    VAL("recv zero-length", recv(srv, b, sizeof b, MSG_DONTWAIT));
    VAL("recv empty", recv(srv, b, sizeof b, MSG_DONTWAIT));
    /* Errors. */
    struct sockaddr_un x;
    VAL("sendto missing", sendto(cl, "x", 1, 0, (struct sockaddr *)&x, mkaddr(&x, "nope.sock")));
    VAL("sendto addrlen 1", sendto(cl, "x", 1, 0, (struct sockaddr *)&sa, 1));
    VAL("sendto bad address pointer", sendto(cl, "x", 1, 0, (struct sockaddr *)16, sal));
    VAL("send unconnected", send(cl, "x", 1, 0));
    int st = socket(AF_UNIX, SOCK_STREAM, 0);
    bind(st, (struct sockaddr *)&x, mkaddr(&x, "st.sock"));
    VAL("sendto a stream socket's file", sendto(cl, "x", 1, 0, (struct sockaddr *)&x, mkaddr(&x, "st.sock")));
    close(st);
    unlink("st.sock");
    /* connect sets the default destination; only the peer may then send. */
    VAL("connect dgram", connect(cl, (struct sockaddr *)&sa, sal));
    print_name("dgram getpeername", cl, 1);
    VAL("send connected", send(cl, "conn", 4, 0));
    VAL("recv", recv(srv, b, sizeof b, 0));
    VAL("connect server to client", connect(srv, (struct sockaddr *)&ca, cal));
    int other = socket(AF_UNIX, SOCK_DGRAM, 0);
    VAL("third party sendto connected socket", sendto(other, "x", 1, 0, (struct sockaddr *)&ca, cal));
    struct sockaddr unspec = { .sa_family = AF_UNSPEC };
    VAL("disconnect (AF_UNSPEC)", connect(cl, &unspec, sizeof unspec));
    VAL("getpeername after disconnect", getpeername(cl, (struct sockaddr *)&x, &fl));
    VAL("connect again", connect(cl, (struct sockaddr *)&sa, sal));
    close(srv);
    VAL("send to closed peer", send(cl, "x", 1, 0));
    VAL("send again", send(cl, "x", 1, 0));
    VAL("sendto closed socket's file", sendto(cl, "x", 1, 0, (struct sockaddr *)&sa, sal));
    close(cl);
    close(other);
    unlink("dg.sock");
    unlink("dgc.sock");
    /* A datagram pair whose peer closed: no end of file. */
    int sv[2];
    socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
    close(sv[1]);
    VAL("dgram pair recv after peer close", recv(sv[0], b, sizeof b, MSG_DONTWAIT));
    struct pollfd p = { sv[0], POLLIN | POLLOUT, 0 };
    poll(&p, 1, 0);
    printf("dgram pair poll after peer close: %#x\n", p.revents);
    close(sv[0]);
}

static void test_names(void)
{
    /* Lengths: path names count their NUL; truncation reports the full length. */
    struct sockaddr_un a, b;
    socklen_t al = mkaddr(&a, "n.sock");
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    bind(s, (struct sockaddr *)&a, al);
    print_name("getsockname path", s, 0);
    memset(&b, 0, sizeof b);
    socklen_t l = 4;
    VAL("getsockname into 4 bytes", getsockname(s, (struct sockaddr *)&b, &l));
    printf("len %d, copied [%c%c], rest untouched %s\n", (int)l, b.sun_path[0], b.sun_path[1], b.sun_path[2] == 0 ? "yes" : "no");
    l = sizeof b;
    VAL("getsockname bad pointer", getsockname(s, (struct sockaddr *)8, &l));
    VAL("getsockname bad length pointer", getsockname(s, (struct sockaddr *)&b, (socklen_t *)8));
    l = -1;
    VAL("getsockname negative length", getsockname(s, (struct sockaddr *)&b, &l));
    VAL("getpeername unconnected", getpeername(s, (struct sockaddr *)&b, &l));
    /* A path given without a NUL in sun_path still gets one counted. */
    int s2 = socket(AF_UNIX, SOCK_STREAM, 0);
    memset(&b, 0, sizeof b);
    b.sun_family = AF_UNIX;
    memcpy(b.sun_path, "m.sockXYZ", 9);
    VAL("bind without NUL", bind(s2, (struct sockaddr *)&b, SUN_OFF + 6));
    print_name("its name", s2, 0);
    YESNO("m.sock exists", access("m.sock", F_OK) == 0);
    /* A relative name resolves against the cwd of whoever connects. */
    listen(s, 1);
    mkdir("sub", 0755);
    chdir("sub");
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    VAL("connect relative from another dir", connect(c, (struct sockaddr *)&a, al));
    VAL("connect ../n.sock", connect(c, (struct sockaddr *)&b, mkaddr(&b, "../n.sock")));
    chdir("..");
    rmdir("sub");
    close(c);
    close(s);
    close(s2);
    unlink("n.sock");
    unlink("m.sock");
}

static void test_scm_rights(void)
{
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    int base = count_fds();
    pid_t child = fork();
    if (child == 0) {
        /* The child makes a pipe and a file the parent never had. */
        close(sv[0]);
        int pp[2];
        pipe(pp);
        write_file("passed.txt", "0123456789");
        int f = open("passed.txt", O_RDONLY);
        lseek(f, 3, SEEK_SET);
        int fds[2] = { pp[0], f };
        long r = send_fds(sv[1], fds, 2);
        close(pp[0]);
        close(f);
        write(pp[1], "via pipe", 8);
        close(pp[1]);
        char b;
        read(sv[1], &b, 1);
        printf("child sendmsg with 2 fds: %ld\n", r);
        _exit(0);
    }
    int fds[8], mf;
    int n = recv_fds(sv[0], fds, sizeof(char[CMSG_SPACE(sizeof(int) * 8)]), MSG_CMSG_CLOEXEC, &mf);
    printf("received %d fds, MSG_CTRUNC %s, MSG_CMSG_CLOEXEC %s\n", n,
           mf & MSG_CTRUNC ? "yes" : "no", mf & MSG_CMSG_CLOEXEC ? "yes" : "no");
    printf("fd count grew by %d\n", count_fds() - base);
    YESNO("received fds cloexec", n == 2 && (fcntl(fds[0], F_GETFD) & FD_CLOEXEC) && (fcntl(fds[1], F_GETFD) & FD_CLOEXEC));
    char b[32];
    long r = read(fds[0], b, sizeof b);
    print_bytes("read from passed pipe", b, r > 0 ? r : 0);
    VAL("passed pipe at EOF", read(fds[0], b, sizeof b));
    r = read(fds[1], b, sizeof b);
    print_bytes("read from passed file (shared offset)", b, r > 0 ? r : 0);
    struct stat st;
    fstat(fds[1], &st);
    printf("passed file type %c size %ld\n", type_char(st.st_mode), (long)st.st_size);
    write(sv[0], "k", 1);
    int wst;
    waitpid(child, &wst, 0);
    close(fds[0]);
    close(fds[1]);
    unlink("passed.txt");

    /* A short control buffer: one fd fits, the others are dropped. */
    int pp[2];
    pipe(pp);
    int three[3] = { pp[0], pp[1], pp[0] };
    VAL("send 3 fds", send_fds(sv[1], three, 3));
    base = count_fds();
    n = recv_fds(sv[0], fds, CMSG_SPACE(sizeof(int)), 0, &mf);
    printf("short buffer: %d fds, MSG_CTRUNC %s, fd count grew by %d\n", n, mf & MSG_CTRUNC ? "yes" : "no", count_fds() - base);
    for (int i = 0; i < n; i++) close(fds[i]);
    VAL("send 1 fd", send_fds(sv[1], three, 1));
    n = recv_fds(sv[0], fds, CMSG_LEN(0), 0, &mf);
    printf("header-only buffer: %d fds, MSG_CTRUNC %s\n", n, mf & MSG_CTRUNC ? "yes" : "no");
    VAL("send 1 fd", send_fds(sv[1], three, 1));
    char c1;
    VAL("plain recv drops fds", recv(sv[0], &c1, 1, 0));
    printf("fd count grew by %d\n", count_fds() - base);
    int bad[1] = { 77 };
    VAL("send bad fd", send_fds(sv[1], bad, 1));
    /* A control message longer than the buffer is EINVAL. */
    char cbuf[CMSG_SPACE(sizeof(int))];
    memset(cbuf, 0, sizeof cbuf);
    struct iovec iov = { "x", 1 };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf };
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = sizeof cbuf + 8;
    VAL("sendmsg cmsg_len too long", sendmsg(sv[1], &m, 0));
    c->cmsg_len = CMSG_LEN(sizeof(int));
    c->cmsg_type = 99;
    VAL("sendmsg unknown SOL_SOCKET type", sendmsg(sv[1], &m, 0));
    /* (musl copies the control buffer itself: go around it.) */
    m.msg_control = (void *)8;
    VAL("sendmsg bad control pointer", syscall(SYS_sendmsg, sv[1], &m, 0));
    close(pp[0]);
    close(pp[1]);
    /* Fds over a datagram socket, with no data at all. */
    int dv[2];
    socketpair(AF_UNIX, SOCK_DGRAM, 0, dv);
    pipe(pp);
    char cb2[CMSG_SPACE(sizeof(int))];
    struct msghdr m2 = { .msg_control = cb2, .msg_controllen = sizeof cb2 };
    c = CMSG_FIRSTHDR(&m2);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &pp[1], sizeof(int));
    VAL("dgram sendmsg fd, no data", sendmsg(dv[0], &m2, 0));
    close(pp[1]);
    struct msghdr m3 = { .msg_control = cb2, .msg_controllen = sizeof cb2 };
    VAL("dgram recvmsg", recvmsg(dv[1], &m3, 0));
    c = CMSG_FIRSTHDR(&m3);
    int wfd = -1;
    if (c && c->cmsg_type == SCM_RIGHTS) memcpy(&wfd, CMSG_DATA(c), sizeof(int));
    VAL("write through received pipe end", write(wfd, "pp", 2));
    VAL("read it back", read(pp[0], b, sizeof b));
    close(wfd);
    close(pp[0]);
    close(dv[0]);
    close(dv[1]);
    close(sv[0]);
    close(sv[1]);
}

static void test_credentials(void)
{
    int sv[2];
    socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
    struct ucred uc;
    socklen_t l = sizeof uc;
    getsockopt(sv[0], SOL_SOCKET, SO_PEERCRED, &uc, &l);
    printf("socketpair SO_PEERCRED is self: %s\n", uc.pid == getpid() && uc.uid == geteuid() ? "yes" : "no");
    int on = 1;
    VAL("SO_PASSCRED", setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof on));
    int v = 0;
    getsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &v, &l);
    printf("SO_PASSCRED now %d\n", v);
    pid_t child = fork();
    if (child == 0) {
        send(sv[0], "c", 1, 0);
        _exit(0);
    }
    int st;
    waitpid(child, &st, 0);
    char cbuf[CMSG_SPACE(sizeof(struct ucred))], b;
    struct iovec iov = { &b, 1 };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf };
    VAL("recvmsg with SO_PASSCRED", recvmsg(sv[1], &m, 0));
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    if (c && c->cmsg_type == SCM_CREDENTIALS) {
        memcpy(&uc, CMSG_DATA(c), sizeof uc);
        printf("SCM_CREDENTIALS pid is child: %s, uid ok: %s, gid ok: %s\n", uc.pid == child ? "yes" : "no",
               uc.uid == getuid() ? "yes" : "no", uc.gid == getgid() ? "yes" : "no");
    } else {
        printf("no SCM_CREDENTIALS\n");
    }
    /* Sending explicit credentials: our own are fine, another pid is not. */
    struct msghdr sm = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf };
    c = CMSG_FIRSTHDR(&sm);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_CREDENTIALS;
    c->cmsg_len = CMSG_LEN(sizeof uc);
    uc.pid = getpid();
    uc.uid = getuid();
    uc.gid = getgid();
    memcpy(CMSG_DATA(c), &uc, sizeof uc);
    VAL("sendmsg own SCM_CREDENTIALS", sendmsg(sv[0], &sm, 0));
    m.msg_controllen = sizeof cbuf;
    recvmsg(sv[1], &m, 0);
    c = CMSG_FIRSTHDR(&m);
    YESNO("received them", c && c->cmsg_type == SCM_CREDENTIALS && ((struct ucred *)CMSG_DATA(c))->pid == getpid());
    /* Without room for the credentials the message is truncated. */
    send(sv[0], "d", 1, 0);
    m.msg_controllen = 0;
    m.msg_control = NULL;
    VAL("recvmsg without control buffer", recvmsg(sv[1], &m, 0));
    printf("MSG_CTRUNC %s\n", m.msg_flags & MSG_CTRUNC ? "yes" : "no");
    close(sv[0]);
    close(sv[1]);
}

static void test_seqpacket(void)
{
    struct sockaddr_un a;
    socklen_t al = mkaddr(&a, "sp.sock");
    int ls = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    bind(ls, (struct sockaddr *)&a, al);
    listen(ls, 1);
    int c = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    char b[16];
    VAL("seqpacket recv unconnected", recv(c, b, sizeof b, MSG_DONTWAIT));
    VAL("seqpacket connect", connect(c, (struct sockaddr *)&a, al));
    int s = accept(ls, NULL, NULL);
    send(c, "abc", 3, 0);
    send(c, "defgh", 5, 0);
    VAL("seqpacket recv 16", recv(s, b, sizeof b, 0));
    VAL("seqpacket recv 2 of 5", recv(s, b, 2, 0));
    close(c);
    VAL("seqpacket recv at EOF", recv(s, b, sizeof b, 0));
    close(s);
    close(ls);
    unlink("sp.sock");
}

int main(int argc, char **argv)
{
    guest_init(argc, argv, "unix_sockets");
    test_socket_calls();
    test_bind_errors();
    test_named_stream();
    test_backlog_and_nonblocking();
    test_accept_signals();
    test_abstract();
    test_dgram();
    test_names();
    test_scm_rights();
    test_credentials();
    test_seqpacket();
    guest_cleanup();
    printf("done\n");
    return 0;
}
