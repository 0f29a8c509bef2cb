/* Shared helpers for umk's guest test programs.
 *
 * Every program prints what it observes, one fact per line, in a form that
 * is identical natively and inside umk (the differential oracle): errno and
 * signal NAMES rather than strerror() text, no pids, addresses, inode
 * numbers or times, sorted directory listings, paths relative to the
 * scratch/fixture directory.
 *
 * Conventions: argv[1] (optional) is a scratch directory to work in
 * (default /tmp); each program works in its own subdirectory of it and
 * removes it afterwards.  stdout is line buffered, so output survives
 * fork() and interleaves deterministically as long as only one process
 * prints at a time.
 */
#ifndef UMK_GUEST_COMMON_H
#define UMK_GUEST_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static inline const char *errname(int e)
{
    static char buf[32];
    switch (e) {
    case 0: return "OK";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case ESRCH: return "ESRCH";
    case EINTR: return "EINTR";
    case EIO: return "EIO";
    case ENXIO: return "ENXIO";
    case E2BIG: return "E2BIG";
    case ENOEXEC: return "ENOEXEC";
    case EBADF: return "EBADF";
    case ECHILD: return "ECHILD";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case ENOTBLK: return "ENOTBLK";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case EXDEV: return "EXDEV";
    case ENODEV: return "ENODEV";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EINVAL: return "EINVAL";
    case ENFILE: return "ENFILE";
    case EMFILE: return "EMFILE";
    case ENOTTY: return "ENOTTY";
    case ETXTBSY: return "ETXTBSY";
    case EFBIG: return "EFBIG";
    case ENOSPC: return "ENOSPC";
    case ESPIPE: return "ESPIPE";
    case EROFS: return "EROFS";
    case EMLINK: return "EMLINK";
    case EPIPE: return "EPIPE";
    case EDOM: return "EDOM";
    case ERANGE: return "ERANGE";
    case EDEADLK: return "EDEADLK";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ENOLCK: return "ENOLCK";
    case ENOSYS: return "ENOSYS";
    case ENOTEMPTY: return "ENOTEMPTY";
    case ELOOP: return "ELOOP";
    case ENOMSG: return "ENOMSG";
    case ENODATA: return "ENODATA";
    case ETIME: return "ETIME";
    case EOVERFLOW: return "EOVERFLOW";
    case EILSEQ: return "EILSEQ";
    case ENOTSOCK: return "ENOTSOCK";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case EADDRINUSE: return "EADDRINUSE";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case ENETUNREACH: return "ENETUNREACH";
    case EDESTADDRREQ: return "EDESTADDRREQ";
    case ECONNABORTED: return "ECONNABORTED";
    case ENOTCONN: return "ENOTCONN";
    case EISCONN: return "EISCONN";
    case EPROTOTYPE: return "EPROTOTYPE";
    case ENOPROTOOPT: return "ENOPROTOOPT";
    case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
    case ESOCKTNOSUPPORT: return "ESOCKTNOSUPPORT";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case ECONNRESET: return "ECONNRESET";
    case EMSGSIZE: return "EMSGSIZE";
    case ENOBUFS: return "ENOBUFS";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EALREADY: return "EALREADY";
    case EINPROGRESS: return "EINPROGRESS";
    case ESTALE: return "ESTALE";
    case EDQUOT: return "EDQUOT";
    case ECANCELED: return "ECANCELED";
    case EOWNERDEAD: return "EOWNERDEAD";
    case ENOTRECOVERABLE: return "ENOTRECOVERABLE";
    default:
        snprintf(buf, sizeof buf, "errno%d", e);
        return buf;
    }
}

static inline const char *signame(int s)
{
    static char buf[32];
    switch (s) {
    case 0: return "0";
    case SIGHUP: return "SIGHUP";
    case SIGINT: return "SIGINT";
    case SIGQUIT: return "SIGQUIT";
    case SIGILL: return "SIGILL";
    case SIGTRAP: return "SIGTRAP";
    case SIGABRT: return "SIGABRT";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGKILL: return "SIGKILL";
    case SIGUSR1: return "SIGUSR1";
    case SIGSEGV: return "SIGSEGV";
    case SIGUSR2: return "SIGUSR2";
    case SIGPIPE: return "SIGPIPE";
    case SIGALRM: return "SIGALRM";
    case SIGTERM: return "SIGTERM";
    case SIGCHLD: return "SIGCHLD";
    case SIGCONT: return "SIGCONT";
    case SIGSTOP: return "SIGSTOP";
    case SIGTSTP: return "SIGTSTP";
    case SIGTTIN: return "SIGTTIN";
    case SIGTTOU: return "SIGTTOU";
    case SIGURG: return "SIGURG";
    case SIGXCPU: return "SIGXCPU";
    case SIGXFSZ: return "SIGXFSZ";
    case SIGVTALRM: return "SIGVTALRM";
    case SIGPROF: return "SIGPROF";
    case SIGWINCH: return "SIGWINCH";
    case SIGIO: return "SIGIO";
    case SIGPWR: return "SIGPWR";
    case SIGSYS: return "SIGSYS";
    default:
        snprintf(buf, sizeof buf, "SIG%d", s);
        return buf;
    }
}

/* Describe a wait status: "exited 3", "killed SIGPIPE", "stopped SIGSTOP". */
static inline const char *wstatus_str(int st)
{
    static char buf[64];
    if (WIFEXITED(st))
        snprintf(buf, sizeof buf, "exited %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, sizeof buf, "killed %s", signame(WTERMSIG(st)));
    else if (WIFSTOPPED(st))
        snprintf(buf, sizeof buf, "stopped %s", signame(WSTOPSIG(st)));
    else if (WIFCONTINUED(st))
        snprintf(buf, sizeof buf, "continued");
    else
        snprintf(buf, sizeof buf, "status 0x%x", st);
    return buf;
}

/* Print "LABEL: ok" or "LABEL: ERRNAME" for a call returning -1 on error. */
#define RES(label, expr) do {                                          \
        errno = 0;                                                     \
        long r_ = (long)(expr);                                        \
        int e_ = errno;                                                \
        if (r_ == -1) printf("%s: %s\n", (label), errname(e_));        \
        else printf("%s: ok\n", (label));                              \
    } while (0)

/* Print "LABEL: VALUE" or "LABEL: ERRNAME", for calls whose value is stable. */
#define VAL(label, expr) do {                                          \
        errno = 0;                                                     \
        long r_ = (long)(expr);                                        \
        int e_ = errno;                                                \
        if (r_ == -1) printf("%s: %s\n", (label), errname(e_));        \
        else printf("%s: %ld\n", (label), r_);                         \
    } while (0)

/* Print "LABEL: yes/no". */
#define YESNO(label, cond) printf("%s: %s\n", (label), (cond) ? "yes" : "no")

/* Print a byte buffer with non-printables escaped. */
static inline void print_bytes(const char *label, const void *p, long n)
{
    const unsigned char *b = p;
    printf("%s: [", label);
    for (long i = 0; i < n; i++) {
        if (b[i] == '\n') printf("\\n");
        else if (b[i] == '\\') printf("\\\\");
        else if (b[i] >= 32 && b[i] < 127) putchar(b[i]);
        else printf("\\x%02x", b[i]);
    }
    printf("]\n");
}

/* FNV-1a, for summarising large reads. */
static inline uint32_t fnv1a(const void *p, size_t n, uint32_t h)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 16777619u;
    }
    return h;
}
#define FNV_INIT 2166136261u

static inline char type_char(mode_t m)
{
    if (S_ISREG(m)) return '-';
    if (S_ISDIR(m)) return 'd';
    if (S_ISLNK(m)) return 'l';
    if (S_ISFIFO(m)) return 'p';
    if (S_ISCHR(m)) return 'c';
    if (S_ISBLK(m)) return 'b';
    if (S_ISSOCK(m)) return 's';
    return '?';
}

/* Remove a tree (best effort; no symlinks followed). */
static inline void rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *de;
            char sub[PATH_MAX];
            while ((de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
                snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
                rm_rf(sub);
            }
            closedir(d);
        }
        chmod(path, 0700);
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* Close every fd above 2 that the environment may have leaked, so fd
 * numbers the program sees are deterministic. */
static inline void close_extra_fds(void)
{
    for (int fd = 3; fd < 1024; fd++) close(fd);
}

static char g_work[PATH_MAX];
static char g_self[PATH_MAX];   /* argv[0] made absolute (for re-exec) */

/* Common start-up: line-buffered stdout, deterministic fds, and a fresh
 * work directory "<scratch>/<name>.d" which becomes the cwd.  Returns the
 * work directory path.  g_self is argv[0], made absolute if it was relative. */
static inline const char *guest_init(int argc, char **argv, const char *name)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    close_extra_fds();
    if (argv[0][0] != '/' && strchr(argv[0], '/')) {
        char cwd[PATH_MAX];
        if (getcwd(cwd, sizeof cwd)) snprintf(g_self, sizeof g_self, "%s/%s", cwd, argv[0]);
    } else {
        snprintf(g_self, sizeof g_self, "%s", argv[0]);
    }
    const char *scratch = (argc > 1 && argv[1][0]) ? argv[1] : "/tmp";
    snprintf(g_work, sizeof g_work, "%s/%s.d", scratch, name);
    rm_rf(g_work);
    if (mkdir(g_work, 0755) != 0 || chdir(g_work) != 0) {
        printf("setup: cannot use work dir: %s\n", errname(errno));
        exit(1);
    }
    return g_work;
}

static inline void guest_cleanup(void)
{
    if (g_work[0]) {
        chdir("/");
        rm_rf(g_work);
    }
}

/* Write a whole string to a new file (mode 0644). */
static inline int write_file(const char *path, const char *s)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return -1;
    size_t n = strlen(s);
    ssize_t w = write(fd, s, n);
    close(fd);
    return w == (ssize_t)n ? 0 : -1;
}

#endif
