/* AF_UNIX socket pairs: stream and datagram semantics, shutdown, EPIPE,
 * blocking between processes, poll. */
#include "common.h"
#include <poll.h>
#include <sys/socket.h>

int main(int argc, char **argv)
{
    guest_init(argc, argv, "sockets");
    int sv[2];
    VAL("socketpair inet", socketpair(AF_INET, SOCK_STREAM, 0, sv));
    VAL("socketpair bad type", socketpair(AF_UNIX, 99, 0, sv));
    VAL("socketpair stream", socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
    printf("cloexec: %s\n", fcntl(sv[0], F_GETFD) & FD_CLOEXEC ? "yes" : "no");
    struct stat st;
    fstat(sv[0], &st);
    printf("type %c\n", type_char(st.st_mode));
    int t = 0;
    socklen_t tl = sizeof t;
    VAL("SO_TYPE", getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &t, &tl));
    printf("so_type %d\n", t);
    /* Stream: boundaries are not kept. */
    send(sv[0], "abc", 3, 0);
    send(sv[0], "def", 3, 0);
    char buf[64];
    VAL("recv peek 4", recv(sv[1], buf, 4, MSG_PEEK));
    VAL("recv 64", recv(sv[1], buf, sizeof buf, 0));
    print_bytes("stream data", buf, 6);
    VAL("recv empty nonblocking", recv(sv[1], buf, 4, MSG_DONTWAIT));
    VAL("write", write(sv[1], "back", 4));
    VAL("read", read(sv[0], buf, sizeof buf));
    VAL("sendto with address", sendto(sv[0], "x", 1, 0, (struct sockaddr *)&st, 16));
    /* Blocking receive woken by a child. */
    if (fork() == 0) { usleep(100000); write(sv[1], "late", 4); _exit(0); }
    VAL("blocking recv", recv(sv[0], buf, sizeof buf, 0));
    wait(0);
    /* shutdown(SHUT_WR): the peer reads end of file. */
    VAL("shutdown WR", shutdown(sv[0], SHUT_WR));
    VAL("peer reads EOF", recv(sv[1], buf, sizeof buf, 0));
    VAL("send after SHUT_WR", send(sv[0], "x", 1, MSG_NOSIGNAL));
    VAL("shutdown bad", shutdown(sv[0], 7));
    struct pollfd p = { .fd = sv[1], .events = POLLIN };
    poll(&p, 1, 0);
    printf("poll after peer shutdown: %s\n", p.revents & POLLIN ? "POLLIN" : "none");
    close(sv[1]);
    signal(SIGPIPE, SIG_IGN);
    VAL("send to closed peer", send(sv[0], "x", 1, 0));
    close(sv[0]);
    /* Datagrams keep boundaries; a short read drops the rest. */
    VAL("socketpair dgram", socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
    send(sv[0], "one", 3, 0);
    send(sv[0], "three", 5, 0);
    VAL("dgram recv 64", recv(sv[1], buf, sizeof buf, 0));
    VAL("dgram recv 2 of 5", recv(sv[1], buf, 2, 0));
    print_bytes("dgram short", buf, 2);
    VAL("dgram recv empty", recv(sv[1], buf, 8, MSG_DONTWAIT));
    /* sendmsg/recvmsg with two iovecs. */
    struct iovec iov[2] = { { "ab", 2 }, { "cde", 3 } };
    struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };
    VAL("sendmsg", sendmsg(sv[0], &m, 0));
    char a[3] = {0}, b[8] = {0};
    struct iovec riov[2] = { { a, 2 }, { b, 8 } };
    struct msghdr rm = { .msg_iov = riov, .msg_iovlen = 2 };
    VAL("recvmsg", recvmsg(sv[1], &rm, 0));
    printf("recvmsg parts [%s] [%s] flags %d\n", a, b, rm.msg_flags);
    VAL("recv on a pipe", ({ int pp[2]; pipe(pp); recv(pp[0], buf, 1, MSG_DONTWAIT); }));
    close(sv[0]);
    close(sv[1]);
    guest_cleanup();
    printf("done\n");
    return 0;
}
