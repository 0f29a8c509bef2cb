/* eventfd, epoll and memfd_create. */
#include "common.h"
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>

static void show_wait(const char *label, int ep, int timeout)
{
    struct epoll_event ev[4];
    int n = epoll_wait(ep, ev, 4, timeout);
    if (n < 0) { printf("%s: %s\n", label, errname(errno)); return; }
    printf("%s: %d", label, n);
    /* The order of simultaneous events is the kernel's business: sort. */
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (ev[j].data.u64 < ev[i].data.u64) { struct epoll_event t = ev[i]; ev[i] = ev[j]; ev[j] = t; }
    for (int i = 0; i < n; i++)
        printf(" [data %llu events%s%s%s]", (unsigned long long)ev[i].data.u64,
               ev[i].events & EPOLLIN ? " IN" : "", ev[i].events & EPOLLOUT ? " OUT" : "",
               ev[i].events & EPOLLHUP ? " HUP" : "");
    printf("\n");
}

int main(int argc, char **argv)
{
    guest_init(argc, argv, "events");
    uint64_t v;

    /* --- eventfd -------------------------------------------------------- */
    int e = eventfd(3, EFD_NONBLOCK);
    VAL("eventfd read", read(e, &v, 8));
    printf("value %llu\n", (unsigned long long)v);
    VAL("eventfd read empty", read(e, &v, 8));
    v = 5; VAL("eventfd write 5", write(e, &v, 8));
    v = 2; VAL("eventfd write 2", write(e, &v, 8));
    VAL("eventfd read short buffer", read(e, &v, 4));
    VAL("eventfd read", read(e, &v, 8));
    printf("value %llu\n", (unsigned long long)v);
    v = UINT64_MAX; VAL("eventfd write max", write(e, &v, 8));
    v = UINT64_MAX - 1; VAL("eventfd write max-1", write(e, &v, 8));
    v = 1; VAL("eventfd write overflow", write(e, &v, 8));
    close(e);
    int s = eventfd(2, EFD_SEMAPHORE | EFD_NONBLOCK);
    VAL("semaphore read", read(s, &v, 8)); printf("value %llu\n", (unsigned long long)v);
    VAL("semaphore read", read(s, &v, 8)); printf("value %llu\n", (unsigned long long)v);
    VAL("semaphore read empty", read(s, &v, 8));
    VAL("eventfd bad flags", eventfd(0, 0x40000000));

    /* --- epoll ---------------------------------------------------------- */
    int ep = epoll_create1(EPOLL_CLOEXEC);
    VAL("epoll_create1 bad flags", epoll_create1(1));
    int p[2];
    pipe(p);
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 11 };
    VAL("ctl ADD read end", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
    VAL("ctl ADD again", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
    ev.events = EPOLLOUT; ev.data.u64 = 22;
    VAL("ctl ADD write end", epoll_ctl(ep, EPOLL_CTL_ADD, p[1], &ev));
    int other[2];
    pipe(other);
    VAL("ctl MOD unregistered fd", epoll_ctl(ep, EPOLL_CTL_MOD, other[0], &ev));
    VAL("ctl DEL unregistered fd", epoll_ctl(ep, EPOLL_CTL_DEL, other[0], 0));
    VAL("ctl ADD bad fd", epoll_ctl(ep, EPOLL_CTL_ADD, 999, &ev));
    close(other[0]);
    close(other[1]);
    VAL("ctl ADD itself", epoll_ctl(ep, EPOLL_CTL_ADD, ep, &ev));
    int reg = open("regular", O_CREAT | O_RDWR, 0600);
    VAL("ctl ADD regular file", epoll_ctl(ep, EPOLL_CTL_ADD, reg, &ev));
    close(reg);
    VAL("ctl on a non-epoll fd", epoll_ctl(p[0], EPOLL_CTL_ADD, p[1], &ev));
    show_wait("wait (writable only)", ep, 0);
    write(p[1], "x", 1);
    show_wait("wait (readable and writable)", ep, 0);
    VAL("ctl DEL write end", epoll_ctl(ep, EPOLL_CTL_DEL, p[1], 0));
    show_wait("wait after DEL", ep, 0);
    char c;
    read(p[0], &c, 1);
    show_wait("wait drained, timeout 0", ep, 0);
    show_wait("wait drained, timeout 50ms", ep, 50);
    /* A child makes the pipe readable later: epoll_wait blocks until then. */
    if (fork() == 0) { usleep(100000); write(p[1], "y", 1); _exit(0); }
    show_wait("blocking wait", ep, -1);
    wait(0);
    read(p[0], &c, 1);
    /* EPOLLONESHOT reports once until re-armed. */
    ev.events = EPOLLIN | EPOLLONESHOT; ev.data.u64 = 33;
    VAL("ctl MOD oneshot", epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev));
    write(p[1], "zz", 2);
    show_wait("oneshot first", ep, 0);
    show_wait("oneshot second", ep, 0);
    VAL("ctl MOD re-arm", epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev));
    show_wait("oneshot re-armed", ep, 0);
    /* EPOLLET: no new report while nothing new arrives. */
    ev.events = EPOLLIN | EPOLLET; ev.data.u64 = 44;
    VAL("ctl MOD edge", epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev));
    show_wait("edge first", ep, 0);
    show_wait("edge again (no new data)", ep, 0);
    close(p[1]);
    show_wait("after the writer closed", ep, 0);
    close(p[0]);
    close(ep);

    /* --- memfd ---------------------------------------------------------- */
    int m = memfd_create("umk-test", MFD_CLOEXEC);
    VAL("memfd write", write(m, "hello memfd", 11));
    struct stat st;
    fstat(m, &st);
    printf("memfd size %ld type %c\n", (long)st.st_size, type_char(st.st_mode));
    VAL("memfd pread", pread(m, &v, 5, 6));
    VAL("memfd flags cloexec", (fcntl(m, F_GETFD) & FD_CLOEXEC) != 0);
    char link[64], path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", m);
    ssize_t n = readlink(path, link, sizeof link - 1);
    if (n > 0) { link[n] = 0; printf("memfd link: %s\n", link); }
    char *map = mmap(0, 11, PROT_READ, MAP_PRIVATE, m, 0);
    printf("memfd mmap: %.11s\n", map == MAP_FAILED ? "FAILED" : map);
    VAL("memfd bad flags", memfd_create("x", 0x100));
    close(m);

    guest_cleanup();
    printf("done\n");
    return 0;
}
