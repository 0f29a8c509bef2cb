/* Escape attempts, run inside umk by tests/isolation.rs (not a
 * differential program: natively these would succeed).
 *
 *   escape int80          i386 syscall ABI: must not run (killed)
 *   escape stubjump PATH  jump to umk's injection site with openat(PATH)
 *                         and a guessed secret: must be trapped like any
 *                         other call (PATH is a host file: must not open)
 *   escape ptrace         ptrace/process_vm_readv: not available
 *   escape core           raise RLIMIT_CORE to unlimited and crash: no
 *                         core dump of guest memory may appear on the host
 *   escape cpuclock PID   read the CPU clock of host process PID (a pid
 *                         that is not the guest's): must fail
 *   escape unix PATH NAME connect to a host unix socket at PATH and to
 *                         the host's abstract name NAME: must not reach
 *                         either (prints "reached ..." if it does)
 *   escape inet TCPPORT UDPPORT ADDR...  connect over TCP and send UDP
 *                         datagrams to those ports of 127.0.0.1, ::1,
 *                         0.0.0.0 and each ADDR (where the host listens):
 *                         must not reach the host (prints "reached ...")
 *   escape shm            map a /dev/shm file MAP_SHARED (umk then holds
 *                         a host memfd for it), print "mapped", read umk's
 *                         host pid from stdin and try to open umk's fds
 *                         through /proc: must fail; print the guest fds
 *                         that /proc/self/fd offers ("fds: 3"), then wait
 *                         for a line on stdin (the test looks at the host
 *                         fds of the guest process meanwhile)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <time.h>
#include <sys/resource.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/in.h>

/* Tries a stream and a datagram connection to `a`; a success is a leak. */
static void try_unix(const char *what, struct sockaddr_un *a, socklen_t len) {
    int types[2] = { SOCK_STREAM, SOCK_DGRAM };
    for (int i = 0; i < 2; i++) {
        int s = socket(AF_UNIX, types[i], 0);
        if (connect(s, (struct sockaddr *)a, len) == 0) {
            printf("reached %s (type %d)\n", what, types[i]);
            send(s, "LEAK", 4, 0);
        } else {
            printf("%s (type %d): %s\n", what, types[i], strerror(errno));
        }
        close(s);
    }
}

/* TCP connect and UDP sendto to ADDR; a TCP connection is a leak (the
 * guest has no listener of its own); the host checks for datagrams. */
static void try_inet(const char *addr, int tport, int uport) {
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *a4 = (void *)&ss;
    struct sockaddr_in6 *a6 = (void *)&ss;
    int fam;
    if (inet_pton(AF_INET, addr, &a4->sin_addr) == 1) {
        fam = a4->sin_family = AF_INET;
        len = sizeof *a4;
    } else if (inet_pton(AF_INET6, addr, &a6->sin6_addr) == 1) {
        fam = a6->sin6_family = AF_INET6;
        len = sizeof *a6;
    } else {
        printf("%s: bad address\n", addr);
        return;
    }
    uint16_t *port = fam == AF_INET ? &a4->sin_port : &a6->sin6_port;
    int s = socket(fam, SOCK_STREAM, 0);
    *port = htons(tport);
    if (connect(s, (struct sockaddr *)&ss, len) == 0) {
        printf("reached %s over tcp\n", addr);
        send(s, "LEAK", 4, 0);
    } else {
        printf("tcp %s: %s\n", addr, strerror(errno));
    }
    close(s);
    s = socket(fam, SOCK_DGRAM, 0);
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_BROADCAST, &one, sizeof one);
    *port = htons(uport);
    long r = sendto(s, "LEAK", 4, 0, (struct sockaddr *)&ss, len);
    printf("udp %s: %s\n", addr, r == 4 ? "sent" : strerror(errno));
    close(s);
}

static void on_trap(int sig, siginfo_t *si, void *ctx) {
    ucontext_t *uc = ctx;
    (void)sig; (void)si;
    printf("stub syscall returned %lld\n", (long long)uc->uc_mcontext.gregs[REG_RAX]);
    fflush(stdout);
    _exit(0);
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    if (!strcmp(argv[1], "int80")) {
        long r;
        __asm__ volatile("int $0x80" : "=a"(r) : "a"(20) : "memory");
        printf("int80 survived: %ld\n", r);
        return 1;
    }
    if (!strcmp(argv[1], "stubjump") && argc > 2) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_trap;
        sa.sa_flags = SA_SIGINFO;
        sigaction(SIGTRAP, &sa, 0);
        sigaction(SIGSEGV, &sa, 0);
        register long rax __asm__("rax") = SYS_openat;
        register long rdi __asm__("rdi") = AT_FDCWD;
        register long rsi __asm__("rsi") = (long)argv[2];
        register long rdx __asm__("rdx") = O_RDONLY;
        register long r9 __asm__("r9") = 0x123456789000L;
        __asm__ volatile("jmp *%[site]" : : [site] "r"(0x6b6d00000078L), "r"(rax), "r"(rdi), "r"(rsi), "r"(rdx), "r"(r9) : "memory");
        return 1;
    }
    if (!strcmp(argv[1], "ptrace")) {
        long r = syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0);
        printf("ptrace: %ld\n", r);
        r = syscall(SYS_process_vm_readv, 1, 0, 0, 0, 0, 0);
        printf("process_vm_readv: %ld\n", r);
        r = syscall(SYS_kcmp, 1, 1, 0, 0, 0);
        printf("kcmp: %ld\n", r);
        return 0;
    }
    if (!strcmp(argv[1], "core")) {
        struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };
        setrlimit(RLIMIT_CORE, &rl);
        signal(SIGSEGV, SIG_DFL);
        raise(SIGSEGV);
        return 1;
    }
    if (!strcmp(argv[1], "cpuclock") && argc > 2) {
        int pid = atoi(argv[2]);
        struct timespec ts;
        long a = syscall(SYS_clock_gettime, (~pid << 3) | 2, &ts);
        long b = syscall(SYS_clock_getres, (~pid << 3) | 2, &ts);
        long c = syscall(SYS_clock_gettime, (~pid << 3) | 6, &ts);
        printf("clock_gettime: %ld, clock_getres: %ld, thread clock: %ld\n", a, b, c);
        return 0;
    }
    if (!strcmp(argv[1], "unix") && argc > 3) {
        struct sockaddr_un a;
        const char *paths[] = { argv[2], "/proc/self/root", "/proc/1/cwd" };
        char buf[200];
        for (int i = 0; i < 3; i++) {
            if (i == 0) snprintf(buf, sizeof buf, "%s", argv[2]);
            else snprintf(buf, sizeof buf, "%s/../../../..%s", paths[i], argv[2]);
            memset(&a, 0, sizeof a);
            a.sun_family = AF_UNIX;
            snprintf(a.sun_path, sizeof a.sun_path, "%s", buf);
            try_unix(buf, &a, offsetof(struct sockaddr_un, sun_path) + strlen(a.sun_path) + 1);
        }
        memset(&a, 0, sizeof a);
        a.sun_family = AF_UNIX;
        size_t n = strlen(argv[3]);
        memcpy(a.sun_path + 1, argv[3], n);
        try_unix("abstract", &a, offsetof(struct sockaddr_un, sun_path) + 1 + n);
        /* A guest socket bound at the same path is the guest's own. */
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        memset(&a, 0, sizeof a);
        a.sun_family = AF_UNIX;
        snprintf(a.sun_path, sizeof a.sun_path, "%s", argv[2]);
        printf("guest bind: %s\n", bind(s, (struct sockaddr *)&a, sizeof a) == 0 ? "ok" : strerror(errno));
        return 0;
    }
    if (!strcmp(argv[1], "inet") && argc > 3) {
        int tport = atoi(argv[2]), uport = atoi(argv[3]);
        const char *fixed[] = { "127.0.0.1", "::1", "0.0.0.0", "::", "::ffff:127.0.0.1", "255.255.255.255", "224.0.0.1" };
        for (int i = 0; i < 7; i++) try_inet(fixed[i], tport, uport);
        for (int i = 4; i < argc; i++) try_inet(argv[i], tport, uport);
        /* Nor may the guest name an address that is not its own. */
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in b = { .sin_family = AF_INET };
        if (argc > 4) inet_pton(AF_INET, argv[4], &b.sin_addr);
        printf("bind host address: %s\n", bind(s, (struct sockaddr *)&b, sizeof b) == 0 ? "ok" : strerror(errno));
        return 0;
    }
    if (!strcmp(argv[1], "shm")) {
        setvbuf(stdout, NULL, _IOLBF, 0);
        int fd = open("/dev/shm/escape", O_RDWR | O_CREAT, 0600);
        if (fd < 0 || ftruncate(fd, 4096) != 0) return 1;
        char *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED) { printf("mmap: %s\n", strerror(errno)); return 1; }
        strcpy(m, "guest data");
        printf("mapped\n");
        char line[32];
        if (!fgets(line, sizeof line, stdin)) return 1;
        int pid = atoi(line);
        char path[96];
        int opened = 0;
        for (int n = 0; n < 1024; n++) {
            const char *fmts[] = { "/proc/%d/fd/%d", "/proc/self/root/proc/%d/fd/%d",
                                   "/../../proc/%d/fd/%d", "/dev/../proc/%d/fd/%d" };
            for (int f = 0; f < 4; f++) {
                snprintf(path, sizeof path, fmts[f], pid, n);
                int r = open(path, O_RDWR);
                if (r >= 0) { printf("LEAK opened %s\n", path); opened++; close(r); }
            }
        }
        printf("umk fds opened: %d\n", opened);
        printf("fds:");
        for (int n = 0; n < 1024; n++) {
            snprintf(path, sizeof path, "/proc/self/fd/%d", n);
            char t[64];
            if (n > 2 && readlink(path, t, sizeof t) >= 0) printf(" %d", n);
        }
        printf("\n");
        if (!fgets(line, sizeof line, stdin)) return 1;
        printf("data: %s\n", m);
        return 0;
    }
    return 2;
}
