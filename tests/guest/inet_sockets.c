/* AF_INET and AF_INET6 on loopback: socket(), bind rules (ephemeral
 * ports, EADDRINUSE, SO_REUSEADDR, IPV6_V6ONLY, dual stack), TCP
 * connect/accept/shutdown/reset/EPIPE, non-blocking connect, readiness,
 * options, UDP datagrams and ECONNREFUSED, blocking calls and signals,
 * bad pointers.  Natively this runs on the host's real loopback: it only
 * uses 127.0.0.1 and ::1 and ports the kernel hands out (bind port 0), and
 * never prints a port number. */
#include "common.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#define BAD ((void *)8)

static struct sockaddr_in sin4(const char *ip, int port)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

static struct sockaddr_in6 sin6(const char *ip, int port)
{
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(port);
    inet_pton(AF_INET6, ip, &a.sin6_addr);
    return a;
}

static int port_of(int fd)
{
    struct sockaddr_storage a;
    socklen_t l = sizeof a;
    if (getsockname(fd, (struct sockaddr *)&a, &l) < 0) return -1;
    if (a.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&a)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&a)->sin6_port);
}

/* "LABEL: len N ADDR port-kind" where port-kind says whether the port is
 * 0, ephemeral, or equal to `expect`. */
static void print_addr(const char *label, int fd, int peer, int expect)
{
    struct sockaddr_storage a;
    memset(&a, 0x55, sizeof a);
    socklen_t l = sizeof a;
    int r = peer ? getpeername(fd, (struct sockaddr *)&a, &l) : getsockname(fd, (struct sockaddr *)&a, &l);
    if (r < 0) {
        printf("%s: %s\n", label, errname(errno));
        return;
    }
    char buf[64] = "?";
    int port;
    if (a.ss_family == AF_INET) {
        struct sockaddr_in *s = (void *)&a;
        inet_ntop(AF_INET, &s->sin_addr, buf, sizeof buf);
        port = ntohs(s->sin_port);
    } else {
        struct sockaddr_in6 *s = (void *)&a;
        inet_ntop(AF_INET6, &s->sin6_addr, buf, sizeof buf);
        port = ntohs(s->sin6_port);
    }
    const char *pk = port == 0 ? "port 0" : port == expect ? "port expected"
        : (port >= 32768 && port <= 60999) ? "port ephemeral" : "port other";
    printf("%s: len %d family %s %s %s\n", label, (int)l, a.ss_family == AF_INET ? "inet" : "inet6", buf, pk);
}

static void print_poll(const char *label, int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLIN | POLLOUT | POLLRDHUP };
    poll(&p, 1, 0);
    printf("%s:%s%s%s%s%s\n", label, p.revents & POLLIN ? " IN" : "", p.revents & POLLOUT ? " OUT" : "",
           p.revents & POLLRDHUP ? " RDHUP" : "", p.revents & POLLHUP ? " HUP" : "",
           p.revents & POLLERR ? " ERR" : "");
}

static int so_error(int fd)
{
    int e = -1;
    socklen_t l = sizeof e;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l);
    return e;
}

static int intopt(int fd, int level, int name)
{
    int v = -1;
    socklen_t l = sizeof v;
    if (getsockopt(fd, level, name, &v, &l) < 0) return -errno;
    return v;
}

/* A TCP listener on 127.0.0.1 or ::1, its port in *port. */
static int listener(int family, int *port)
{
    int s = socket(family, SOCK_STREAM, 0);
    if (family == AF_INET) {
        struct sockaddr_in a = sin4("127.0.0.1", 0);
        bind(s, (struct sockaddr *)&a, sizeof a);
    } else {
        struct sockaddr_in6 a = sin6("::1", 0);
        bind(s, (struct sockaddr *)&a, sizeof a);
    }
    listen(s, 8);
    *port = port_of(s);
    return s;
}

static int connect4(int s, const char *ip, int port)
{
    struct sockaddr_in a = sin4(ip, port);
    return connect(s, (struct sockaddr *)&a, sizeof a);
}

/* A port with nobody on it (bound once, then released). */
static int free_port(int type)
{
    int s = socket(AF_INET, type, 0);
    struct sockaddr_in a = sin4("127.0.0.1", 0);
    bind(s, (struct sockaddr *)&a, sizeof a);
    int p = port_of(s);
    close(s);
    return p;
}

static void test_socket_calls(void)
{
    VAL("tcp4", ({ int s = socket(AF_INET, SOCK_STREAM, 0); s >= 0 ? close(s) : -1; }));
    VAL("udp6", ({ int s = socket(AF_INET6, SOCK_DGRAM, IPPROTO_UDP); s >= 0 ? close(s) : -1; }));
    VAL("tcp with udp protocol", socket(AF_INET, SOCK_STREAM, IPPROTO_UDP));
    VAL("udp with tcp protocol", socket(AF_INET6, SOCK_DGRAM, IPPROTO_TCP));
    VAL("seqpacket", socket(AF_INET, SOCK_SEQPACKET, 0));
    VAL("protocol too large", socket(AF_INET, SOCK_STREAM, 1000));
    VAL("bad flags", socket(AF_INET, SOCK_STREAM | 0x100000, 0));
    VAL("socketpair inet", ({ int sv[2]; socketpair(AF_INET, SOCK_STREAM, 0, sv); }));
    int s = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    printf("cloexec %d nonblock %d\n", !!(fcntl(s, F_GETFD) & FD_CLOEXEC), !!(fcntl(s, F_GETFL) & O_NONBLOCK));
    printf("type %d domain %d protocol %d\n", intopt(s, SOL_SOCKET, SO_TYPE),
           intopt(s, SOL_SOCKET, SO_DOMAIN) == AF_INET6, intopt(s, SOL_SOCKET, SO_PROTOCOL));
    struct stat st;
    fstat(s, &st);
    printf("fstat type %c\n", type_char(st.st_mode));
    print_addr("unbound v6 name", s, 0, 0);
    print_addr("unbound v6 peer", s, 1, 0);
    close(s);
    s = socket(AF_INET, SOCK_STREAM, 0);
    print_addr("unbound v4 name", s, 0, 0);
    print_poll("fresh tcp poll", s);
    VAL("recv unconnected", recv(s, (char[4]){0}, 4, MSG_DONTWAIT));
    VAL("send unconnected", send(s, "x", 1, MSG_NOSIGNAL));
    VAL("shutdown unconnected", shutdown(s, SHUT_RDWR));
    VAL("accept not listening", accept(s, 0, 0));
    close(s);
}

static void test_bind(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = sin4("127.0.0.1", 0);
    VAL("bind short", bind(s, (struct sockaddr *)&a, sizeof a - 1));
    a.sin_family = AF_INET6;
    VAL("bind wrong family", bind(s, (struct sockaddr *)&a, sizeof a));
    a = sin4("10.0.0.1", 0);
    VAL("bind foreign address", bind(s, (struct sockaddr *)&a, sizeof a));
    VAL("bind bad pointer", bind(s, BAD, sizeof a));
    a = sin4("127.0.0.1", 0);
    VAL("bind port 0", bind(s, (struct sockaddr *)&a, sizeof a));
    print_addr("bound name", s, 0, 0);
    int port = port_of(s);
    VAL("bind again", bind(s, (struct sockaddr *)&a, sizeof a));
    int t = socket(AF_INET, SOCK_STREAM, 0);
    a = sin4("0.0.0.0", port);
    VAL("bind any same port", bind(t, (struct sockaddr *)&a, sizeof a));
    a = sin4("127.0.0.2", port);
    VAL("bind other 127/8 address same port", bind(t, (struct sockaddr *)&a, sizeof a));
    print_addr("127.0.0.2 name", t, 0, port);
    close(t);
    close(s);
    /* AF_UNSPEC with INADDR_ANY is taken as AF_INET. */
    s = socket(AF_INET, SOCK_DGRAM, 0);
    a = sin4("0.0.0.0", 0);
    a.sin_family = AF_UNSPEC;
    VAL("bind unspec any", bind(s, (struct sockaddr *)&a, sizeof a));
    close(s);

    /* SO_REUSEADDR: both bound, only one may listen. */
    int r1 = socket(AF_INET, SOCK_STREAM, 0), r2 = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(r1, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(r2, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    a = sin4("127.0.0.1", 0);
    bind(r1, (struct sockaddr *)&a, sizeof a);
    a.sin_port = htons(port_of(r1));
    VAL("reuseaddr bind", bind(r2, (struct sockaddr *)&a, sizeof a));
    VAL("reuseaddr first listen", listen(r1, 1));
    VAL("reuseaddr second listen", listen(r2, 1));
    int r3 = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(r3, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    VAL("reuseaddr bind by a listener", bind(r3, (struct sockaddr *)&a, sizeof a));
    close(r1); close(r2); close(r3);
    /* SO_REUSEPORT: several listeners. */
    r1 = socket(AF_INET, SOCK_STREAM, 0); r2 = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(r1, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    setsockopt(r2, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    a = sin4("127.0.0.1", 0);
    bind(r1, (struct sockaddr *)&a, sizeof a);
    listen(r1, 1);
    a.sin_port = htons(port_of(r1));
    VAL("reuseport bind", bind(r2, (struct sockaddr *)&a, sizeof a));
    VAL("reuseport listen", listen(r2, 1));
    VAL("reuseport get", intopt(r2, SOL_SOCKET, SO_REUSEPORT));
    close(r1); close(r2);
    /* UDP shares a port when both say SO_REUSEADDR, listening or not. */
    r1 = socket(AF_INET, SOCK_DGRAM, 0); r2 = socket(AF_INET, SOCK_DGRAM, 0);
    a = sin4("127.0.0.1", 0);
    bind(r1, (struct sockaddr *)&a, sizeof a);
    a.sin_port = htons(port_of(r1));
    VAL("udp same port", bind(r2, (struct sockaddr *)&a, sizeof a));
    setsockopt(r1, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(r2, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    VAL("udp same port, both reuseaddr", bind(r2, (struct sockaddr *)&a, sizeof a));
    close(r1); close(r2);

    /* IPv6. */
    s = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 b = sin6("::1", 0);
    VAL("bind6 rfc2133 length", bind(s, (struct sockaddr *)&b, 24));
    print_addr("bound6 name", s, 0, 0);
    close(s);
    s = socket(AF_INET6, SOCK_STREAM, 0);
    VAL("bind6 short", bind(s, (struct sockaddr *)&b, 23));
    b = sin6("2001:db8::1", 0);
    VAL("bind6 foreign", bind(s, (struct sockaddr *)&b, sizeof b));
    VAL("v6only set", setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one));
    b = sin6("::ffff:127.0.0.1", 0);
    VAL("bind6 mapped with v6only", bind(s, (struct sockaddr *)&b, sizeof b));
    close(s);
    s = socket(AF_INET6, SOCK_DGRAM, 0);
    VAL("bind6 mapped", bind(s, (struct sockaddr *)&b, sizeof b));
    print_addr("mapped name", s, 0, 0);
    VAL("v6only after bind", setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one));
    close(s);
    s = socket(AF_INET, SOCK_STREAM, 0);
    VAL("v6only on inet", setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one));
    {
        /* IP_TOS (ssh sets it): a stream socket keeps the ECN bits to itself. */
        int tos = 0x13, got = -1;
        socklen_t gl = sizeof got;
        VAL("IP_TOS 0x13 on tcp", setsockopt(s, IPPROTO_IP, IP_TOS, &tos, sizeof tos));
        getsockopt(s, IPPROTO_IP, IP_TOS, &got, &gl);
        printf("  reads back 0x%x\n", got);
        int u = socket(AF_INET, SOCK_DGRAM, 0);
        setsockopt(u, IPPROTO_IP, IP_TOS, &tos, sizeof tos);
        gl = sizeof got;
        getsockopt(u, IPPROTO_IP, IP_TOS, &got, &gl);
        printf("  on udp reads back 0x%x\n", got);
        close(u);
        int s6 = socket(AF_INET6, SOCK_STREAM, 0);
        int tc = 300;
        VAL("IPV6_TCLASS 300", setsockopt(s6, IPPROTO_IPV6, IPV6_TCLASS, &tc, sizeof tc));
        tc = 0x28;
        VAL("IPV6_TCLASS 0x28", setsockopt(s6, IPPROTO_IPV6, IPV6_TCLASS, &tc, sizeof tc));
        gl = sizeof got;
        getsockopt(s6, IPPROTO_IPV6, IPV6_TCLASS, &got, &gl);
        printf("  reads back 0x%x\n", got);
        close(s6);
    }
    close(s);

    /* Dual stack: [::]:P holds 127.0.0.1:P unless IPV6_V6ONLY. */
    int d = socket(AF_INET6, SOCK_STREAM, 0);
    b = sin6("::", 0);
    bind(d, (struct sockaddr *)&b, sizeof b);
    port = port_of(d);
    s = socket(AF_INET, SOCK_STREAM, 0);
    a = sin4("127.0.0.1", port);
    VAL("v4 bind under dual-stack ::", bind(s, (struct sockaddr *)&a, sizeof a));
    close(s);
    close(d);
    d = socket(AF_INET6, SOCK_STREAM, 0);
    setsockopt(d, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    b = sin6("::", 0);
    bind(d, (struct sockaddr *)&b, sizeof b);
    s = socket(AF_INET, SOCK_STREAM, 0);
    a = sin4("127.0.0.1", port_of(d));
    VAL("v4 bind under v6only ::", bind(s, (struct sockaddr *)&a, sizeof a));
    close(s);
    close(d);

    /* Ports below 1024 need privilege. */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (geteuid() == 0 && setuid(65534) != 0) _exit(1);
        int u = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in l = sin4("127.0.0.1", 1);
        VAL("unprivileged bind port 1", bind(u, (struct sockaddr *)&l, sizeof l));
        _exit(0);
    }
    waitpid(pid, 0, 0);
}

static void test_tcp(void)
{
    int port;
    int l = listener(AF_INET, &port);
    VAL("listen acceptconn", intopt(l, SOL_SOCKET, SO_ACCEPTCONN));
    print_poll("listener idle", l);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    VAL("connect", connect4(c, "127.0.0.1", port));
    print_poll("listener with pending", l);
    VAL("connect again", connect4(c, "127.0.0.1", port));
    VAL("connect listener", connect4(l, "127.0.0.1", port));
    print_addr("client name", c, 0, 0);
    print_addr("client peer", c, 1, port);
    struct sockaddr_in pa;
    socklen_t pl = sizeof pa;
    int s = accept(l, (struct sockaddr *)&pa, &pl);
    printf("accept: %s len %d peer is client %d\n", s >= 0 ? "ok" : errname(errno), (int)pl,
           ntohs(pa.sin_port) == port_of(c));
    print_addr("server name", s, 0, port);
    VAL("server acceptconn", intopt(s, SOL_SOCKET, SO_ACCEPTCONN));
    print_poll("server fresh", s);
    VAL("send", send(c, "hello", 5, 0));
    int n = -1;
    ioctl(s, FIONREAD, &n);
    printf("fionread %d\n", n);
    VAL("fionread listener", ioctl(l, FIONREAD, &n));
    char buf[64];
    VAL("peek", recv(s, buf, 3, MSG_PEEK));
    VAL("recv", recv(s, buf, sizeof buf, 0));
    print_bytes("data", buf, 5);
    VAL("recv empty", recv(s, buf, sizeof buf, MSG_DONTWAIT));
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    send(s, "xy", 2, 0);
    VAL("recvfrom on tcp", recvfrom(c, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl));
    printf("recvfrom addrlen %d\n", (int)fl);
    VAL("sendto with address ignored", sendto(c, "z", 1, 0, (struct sockaddr *)&pa, sizeof pa));
    recv(s, buf, sizeof buf, 0);
    /* Half close. */
    VAL("shutdown wr", shutdown(c, SHUT_WR));
    print_poll("client after shutdown wr", c);
    print_poll("server sees fin", s);
    VAL("server reads eof", recv(s, buf, sizeof buf, 0));
    VAL("send after shutdown", send(c, "x", 1, MSG_NOSIGNAL));
    VAL("server still sends", send(s, "back", 4, 0));
    VAL("client reads", recv(c, buf, sizeof buf, 0));
    VAL("shutdown bad how", shutdown(s, 9));
    VAL("shutdown rd", shutdown(s, SHUT_RD));
    VAL("recv after shutdown rd", recv(s, buf, sizeof buf, MSG_DONTWAIT));
    close(c);
    close(s);

    /* The peer closes: a first write is lost, then EPIPE. */
    c = socket(AF_INET, SOCK_STREAM, 0);
    connect4(c, "127.0.0.1", port);
    s = accept(l, 0, 0);
    close(s);
    usleep(10000);
    print_poll("peer closed", c);
    VAL("read eof", recv(c, buf, sizeof buf, 0));
    VAL("write after peer close", send(c, "x", 1, MSG_NOSIGNAL));
    usleep(10000);
    print_poll("after reset", c);
    VAL("write again", send(c, "x", 1, MSG_NOSIGNAL));
    VAL("write again", send(c, "x", 1, MSG_NOSIGNAL));
    VAL("read after reset", recv(c, buf, sizeof buf, 0));
    print_addr("peer after reset", c, 1, port);
    close(c);

    /* Closing with unread data resets the peer. */
    c = socket(AF_INET, SOCK_STREAM, 0);
    connect4(c, "127.0.0.1", port);
    s = accept(l, 0, 0);
    send(c, "unread", 6, 0);
    usleep(10000);
    close(s);
    usleep(10000);
    print_poll("reset by peer", c);
    VAL("recv reset", recv(c, buf, sizeof buf, 0));
    VAL("recv after reset", recv(c, buf, sizeof buf, 0));
    VAL("send after reset", send(c, "x", 1, MSG_NOSIGNAL));
    close(c);

    /* SO_LINGER with a zero timeout resets too. */
    c = socket(AF_INET, SOCK_STREAM, 0);
    connect4(c, "127.0.0.1", port);
    s = accept(l, 0, 0);
    struct linger lg = { 1, 0 };
    VAL("linger set", setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg));
    VAL("linger short", setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, 4));
    memset(&lg, 0x55, sizeof lg);
    socklen_t ll = sizeof lg;
    getsockopt(s, SOL_SOCKET, SO_LINGER, &lg, &ll);
    printf("linger %d %d len %d\n", lg.l_onoff, lg.l_linger, (int)ll);
    close(s);
    usleep(10000);
    VAL("recv after abortive close", recv(c, buf, sizeof buf, 0));
    close(c);

    /* SIGPIPE. */
    c = socket(AF_INET, SOCK_STREAM, 0);
    connect4(c, "127.0.0.1", port);
    s = accept(l, 0, 0);
    shutdown(c, SHUT_WR);
    signal(SIGPIPE, SIG_IGN);
    VAL("send after shutdown, SIGPIPE ignored", send(c, "x", 1, 0));
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGPIPE, SIG_DFL);
        send(c, "x", 1, 0);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    printf("child: %s\n", wstatus_str(st));
    close(c);
    close(s);

    /* Nobody listening. */
    int fp = free_port(SOCK_STREAM);
    c = socket(AF_INET, SOCK_STREAM, 0);
    VAL("connect refused", connect4(c, "127.0.0.1", fp));
    print_addr("name after refusal", c, 0, 0);
    VAL("connect to any address", connect4(c, "0.0.0.0", port));
    print_addr("peer of 0.0.0.0", c, 1, port);
    close(accept(l, 0, 0));
    close(c);
    VAL("connect bad pointer", connect(socket(AF_INET, SOCK_STREAM, 0), BAD, sizeof(struct sockaddr_in)));
    VAL("connect short", ({ struct sockaddr_in a = sin4("127.0.0.1", port); connect(socket(AF_INET, SOCK_STREAM, 0), (struct sockaddr *)&a, 15); }));

    /* Non-blocking connect. */
    c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    VAL("nonblocking connect", connect4(c, "127.0.0.1", port));
    struct pollfd p = { .fd = c, .events = POLLOUT };
    poll(&p, 1, 1000);
    print_poll("nonblocking connected", c);
    printf("so_error %s\n", errname(so_error(c)));
    VAL("connect after completion", connect4(c, "127.0.0.1", port));
    VAL("connect once more", connect4(c, "127.0.0.1", port));
    close(accept(l, 0, 0));
    close(c);
    c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    VAL("nonblocking connect refused", connect4(c, "127.0.0.1", fp));
    p.fd = c;
    poll(&p, 1, 1000);
    print_poll("nonblocking refused", c);
    VAL("connect reports refusal", connect4(c, "127.0.0.1", fp));
    printf("so_error after %s\n", errname(so_error(c)));
    close(c);

    /* Options. */
    c = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    VAL("nodelay default", intopt(c, IPPROTO_TCP, TCP_NODELAY));
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    VAL("nodelay", intopt(c, IPPROTO_TCP, TCP_NODELAY));
    setsockopt(c, IPPROTO_TCP, TCP_CORK, &one, sizeof one);
    VAL("cork", intopt(c, IPPROTO_TCP, TCP_CORK));
    setsockopt(c, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    VAL("keepalive", intopt(c, SOL_SOCKET, SO_KEEPALIVE));
    VAL("keepidle bad", setsockopt(c, IPPROTO_TCP, TCP_KEEPIDLE, &(int){0}, sizeof(int)));
    VAL("keepcnt", setsockopt(c, IPPROTO_TCP, TCP_KEEPCNT, &(int){5}, sizeof(int)));
    VAL("keepcnt get", intopt(c, IPPROTO_TCP, TCP_KEEPCNT));
    VAL("short option", setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, 2));
    VAL("unknown option", setsockopt(c, SOL_SOCKET, 9999, &one, sizeof one));
    VAL("getsockopt bad pointer", getsockopt(c, SOL_SOCKET, SO_TYPE, BAD, &(socklen_t){4}));
    VAL("getsockopt bad length pointer", getsockopt(c, SOL_SOCKET, SO_TYPE, &one, BAD));
    short sv = 0;
    socklen_t sl = sizeof sv;
    getsockopt(c, SOL_SOCKET, SO_TYPE, &sv, &sl);
    printf("short getsockopt %d len %d\n", sv, (int)sl);
    close(c);
    close(l);
}

static void test_dual_stack(void)
{
    int d = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 b = sin6("::", 0);
    bind(d, (struct sockaddr *)&b, sizeof b);
    listen(d, 4);
    int port = port_of(d);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    VAL("v4 to dual-stack listener", connect4(c, "127.0.0.1", port));
    int s = accept(d, 0, 0);
    print_addr("dual server name", s, 0, port);
    print_addr("dual server peer", s, 1, 0);
    print_addr("v4 client peer", c, 1, port);
    close(s); close(c);
    c = socket(AF_INET6, SOCK_STREAM, 0);
    b = sin6("::1", port);
    VAL("v6 to dual-stack listener", connect(c, (struct sockaddr *)&b, sizeof b));
    s = accept(d, 0, 0);
    print_addr("v6 server peer", s, 1, 0);
    close(s); close(c);
    c = socket(AF_INET6, SOCK_STREAM, 0);
    b = sin6("::ffff:127.0.0.1", port);
    VAL("mapped connect", connect(c, (struct sockaddr *)&b, sizeof b));
    print_addr("mapped client name", c, 0, 0);
    close(accept(d, 0, 0)); close(c);
    c = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in a4 = sin4("127.0.0.1", port);
    VAL("tcp6 connect with sockaddr_in", connect(c, (struct sockaddr *)&a4, sizeof a4));
    close(c);
    close(d);
    /* A v6-only listener takes no IPv4. */
    d = socket(AF_INET6, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(d, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    b = sin6("::", 0);
    bind(d, (struct sockaddr *)&b, sizeof b);
    listen(d, 4);
    c = socket(AF_INET, SOCK_STREAM, 0);
    VAL("v4 to v6only listener", connect4(c, "127.0.0.1", port_of(d)));
    close(c);
    c = socket(AF_INET6, SOCK_STREAM, 0);
    setsockopt(c, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    b = sin6("::ffff:127.0.0.1", port_of(d));
    VAL("v6only mapped connect", connect(c, (struct sockaddr *)&b, sizeof b));
    close(c);
    close(d);
}

static volatile int got_alarm;
static void on_alarm(int sig) { (void)sig; got_alarm++; }

static void arm(int restart)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigaction(SIGALRM, &sa, 0);
    got_alarm = 0;
    struct itimerval it = { { 0, 0 }, { 0, 100000 } };
    setitimer(ITIMER_REAL, &it, 0);
}

static void test_blocking(void)
{
    int port;
    int l = listener(AF_INET6, &port);
    arm(0);
    VAL("accept interrupted", accept(l, 0, 0));
    printf("alarms %d\n", got_alarm);
    /* With SA_RESTART the accept goes on and gets a connection from a
     * child that connects after the signal. */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        usleep(300000);
        int c = socket(AF_INET6, SOCK_STREAM, 0);
        struct sockaddr_in6 b = sin6("::1", port);
        connect(c, (struct sockaddr *)&b, sizeof b);
        send(c, "part1", 5, 0);
        usleep(100000);
        send(c, "part2", 5, 0);
        usleep(300000);
        send(c, "late", 4, 0);
        _exit(0);
    }
    arm(1);
    int s = accept(l, 0, 0);
    printf("restarted accept: %s alarms %d\n", s >= 0 ? "ok" : errname(errno), got_alarm);
    char buf[16];
    VAL("waitall", recv(s, buf, 10, MSG_WAITALL));
    print_bytes("waitall data", buf, 10);
    arm(0);
    VAL("recv interrupted", recv(s, buf, sizeof buf, 0));
    arm(1);
    VAL("recv restarted", recv(s, buf, sizeof buf, 0));
    waitpid(pid, 0, 0);
    VAL("recv eof", recv(s, buf, sizeof buf, 0));
    close(s);
    /* epoll wakes for a connection. */
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN, .data.u32 = 7 };
    epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        usleep(50000);
        int c = socket(AF_INET6, SOCK_STREAM, 0);
        struct sockaddr_in6 b = sin6("::1", port);
        connect(c, (struct sockaddr *)&b, sizeof b);
        _exit(0);
    }
    struct epoll_event out;
    VAL("epoll_wait", epoll_wait(ep, &out, 1, 5000));
    printf("epoll data %u in %d\n", out.data.u32, !!(out.events & EPOLLIN));
    waitpid(pid, 0, 0);
    close(ep);
    close(l);
}

static void test_udp(void)
{
    int a = socket(AF_INET, SOCK_DGRAM, 0), b = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in la = sin4("127.0.0.1", 0);
    bind(a, (struct sockaddr *)&la, sizeof la);
    int pa = port_of(a);
    print_poll("udp idle", a);
    VAL("send unconnected", send(b, "x", 1, 0));
    la = sin4("127.0.0.1", pa);
    VAL("sendto", sendto(b, "one", 3, 0, (struct sockaddr *)&la, sizeof la));
    print_addr("autobound sender", b, 0, 0);
    VAL("sendto 2", sendto(b, "three", 5, 0, (struct sockaddr *)&la, sizeof la));
    VAL("sendto short address", sendto(b, "x", 1, 0, (struct sockaddr *)&la, 8));
    VAL("sendto bad buffer", sendto(b, BAD, 1, 0, (struct sockaddr *)&la, sizeof la));
    int n = -1;
    ioctl(a, FIONREAD, &n);
    printf("udp fionread %d\n", n);
    print_poll("udp readable", a);
    char buf[64];
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    VAL("recvfrom", recvfrom(a, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl));
    printf("from len %d is sender %d\n", (int)fl, ntohs(from.sin_port) == port_of(b));
    VAL("recv truncated with MSG_TRUNC", recv(a, buf, 2, MSG_TRUNC | MSG_PEEK));
    struct iovec iov = { buf, 2 };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
    VAL("recvmsg truncated", recvmsg(a, &m, 0));
    printf("msg_flags trunc %d namelen %d\n", !!(m.msg_flags & MSG_TRUNC), (int)m.msg_namelen);
    VAL("recv empty", recv(a, buf, sizeof buf, MSG_DONTWAIT));
    VAL("recvfrom bad buffer", ({ sendto(b, "q", 1, 0, (struct sockaddr *)&la, sizeof la); recvfrom(a, BAD, 4, 0, 0, 0); }));
    VAL("too big", sendto(b, buf, 65508, 0, (struct sockaddr *)&la, sizeof la));
    VAL("largest", ({ char *big = calloc(1, 65507); long r = sendto(b, big, 65507, 0, (struct sockaddr *)&la, sizeof la); free(big); r; }));
    VAL("largest received", recv(a, buf, 1, MSG_TRUNC));
    VAL("empty datagram", sendto(b, "", 0, 0, (struct sockaddr *)&la, sizeof la));
    VAL("empty received", recv(a, buf, sizeof buf, 0));
    /* Connect sets the default destination and filters sources. */
    VAL("connect", connect4(b, "127.0.0.1", pa));
    print_addr("connected name", b, 0, 0);
    print_addr("connected peer", b, 1, pa);
    VAL("send connected", send(b, "conn", 4, 0));
    VAL("recv", recv(a, buf, sizeof buf, 0));
    la = sin4("127.0.0.1", port_of(b));
    connect(a, (struct sockaddr *)&la, sizeof la);
    int c = socket(AF_INET, SOCK_DGRAM, 0);
    sendto(c, "stranger", 8, 0, (struct sockaddr *)&la, sizeof la);
    send(a, "friend", 6, 0);
    VAL("only from peer", recv(b, buf, sizeof buf, 0));
    print_bytes("got", buf, 6);
    VAL("no stranger", recv(b, buf, sizeof buf, MSG_DONTWAIT));
    struct sockaddr un = { .sa_family = AF_UNSPEC };
    VAL("disconnect", connect(b, &un, sizeof un));
    print_addr("disconnected peer", b, 1, 0);
    close(c);
    /* Nobody on the port: a connected socket hears of it next time. */
    int fp = free_port(SOCK_DGRAM);
    c = socket(AF_INET, SOCK_DGRAM, 0);
    VAL("connect to free port", connect4(c, "127.0.0.1", fp));
    VAL("send to nobody", send(c, "x", 1, 0));
    usleep(10000);
    print_poll("refused poll", c);
    VAL("recv reports refusal", recv(c, buf, sizeof buf, MSG_DONTWAIT));
    VAL("send again", send(c, "x", 1, 0));
    usleep(10000);
    VAL("send reports refusal", send(c, "x", 1, 0));
    printf("so_error %s\n", errname(so_error(c)));
    close(c);
    c = socket(AF_INET, SOCK_DGRAM, 0);
    la = sin4("127.0.0.1", fp);
    VAL("unconnected sendto nobody", sendto(c, "x", 1, 0, (struct sockaddr *)&la, sizeof la));
    usleep(10000);
    VAL("no error unconnected", recv(c, buf, sizeof buf, MSG_DONTWAIT));
    close(c);
    VAL("listen udp", listen(a, 1));
    VAL("accept udp", accept(a, 0, 0));
    VAL("shutdown unconnected udp", shutdown(socket(AF_INET, SOCK_DGRAM, 0), SHUT_RD));
    close(a);
    close(b);

    /* A dual-stack UDP socket hears IPv4 senders as mapped addresses. */
    int d = socket(AF_INET6, SOCK_DGRAM, 0);
    struct sockaddr_in6 b6 = sin6("::", 0);
    bind(d, (struct sockaddr *)&b6, sizeof b6);
    c = socket(AF_INET, SOCK_DGRAM, 0);
    la = sin4("127.0.0.1", port_of(d));
    sendto(c, "v4", 2, 0, (struct sockaddr *)&la, sizeof la);
    struct sockaddr_in6 f6;
    socklen_t f6l = sizeof f6;
    VAL("v6 recvfrom v4", recvfrom(d, buf, sizeof buf, 0, (struct sockaddr *)&f6, &f6l));
    char txt[64];
    inet_ntop(AF_INET6, &f6.sin6_addr, txt, sizeof txt);
    printf("from %s len %d\n", txt, (int)f6l);
    /* and sends to IPv4 with a sockaddr_in. */
    la = sin4("127.0.0.1", port_of(c));
    VAL("v6 sendto sockaddr_in", sendto(d, "back", 4, 0, (struct sockaddr *)&la, sizeof la));
    VAL("v4 receives", recv(c, buf, sizeof buf, 0));
    b6 = sin6("::1", port_of(d));
    int e = socket(AF_INET6, SOCK_DGRAM, 0);
    VAL("v6 sendto", sendto(e, "six", 3, 0, (struct sockaddr *)&b6, sizeof b6));
    f6l = sizeof f6;
    VAL("v6 recvfrom", recvfrom(d, buf, sizeof buf, 0, (struct sockaddr *)&f6, &f6l));
    inet_ntop(AF_INET6, &f6.sin6_addr, txt, sizeof txt);
    printf("from %s len %d\n", txt, (int)f6l);
    close(c); close(d); close(e);
}

int main(int argc, char **argv)
{
    guest_init(argc, argv, "inet_sockets");
    test_socket_calls();
    test_bind();
    test_tcp();
    test_dual_stack();
    test_blocking();
    test_udp();
    guest_cleanup();
    printf("done\n");
    return 0;
}
