/* misc: uname, getrandom, clocks, nanosleep, ids, umask, sysinfo, rlimits,
 * prctl name, sched_yield, affinity, and the /proc files that describe the
 * process and the system (their facts that do not depend on the host).
 * usage: misc [SCRATCH] */
#include "common.h"
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <time.h>

static long long ns(struct timespec t) { return t.tv_sec * 1000000000LL + t.tv_nsec; }

extern char **environ;

/* The whole of a small file, NUL-terminated; its length in *len. */
static char *slurp(const char *path, size_t *len)
{
    static char buf[1 << 16];
    int fd = open(path, O_RDONLY);
    size_t n = 0;
    if (fd < 0) return NULL;
    for (ssize_t r; n < sizeof buf - 1 && (r = read(fd, buf + n, sizeof buf - 1 - n)) > 0;) n += r;
    close(fd);
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

/* Entries of a directory other than . and .., and whether each is a
 * decimal number. */
static int count_entries(const char *path, int *all_numeric)
{
    DIR *d = opendir(path);
    int n = 0;
    *all_numeric = 1;
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        n++;
        if (strspn(e->d_name, "0123456789") != strlen(e->d_name)) *all_numeric = 0;
    }
    closedir(d);
    return n;
}

static pthread_barrier_t g_bar;

static void *parked_thread(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&g_bar); /* started */
    pthread_barrier_wait(&g_bar); /* main has looked */
    return NULL;
}

/* /proc/self: what a program can check about itself in its own terms. */
static void proc_self(void)
{
    size_t n;
    char *s;

    /* environ is the environment exec gave: the strings environ points at. */
    s = slurp("/proc/self/environ", &n);
    {
        size_t off = 0;
        int same = s != NULL;
        for (char **e = environ; same && *e; e++) {
            size_t l = strlen(*e) + 1;
            same = off + l <= n && !memcmp(s + off, *e, l);
            off += l;
        }
        YESNO("/proc/self/environ is the environment", same && off == n);
    }

    /* limits shows the NOFILE limit set above (100/200). */
    s = slurp("/proc/self/limits", NULL);
    {
        const char *h = "Limit                     Soft Limit           Hard Limit           Units     \n";
        YESNO("/proc/self/limits has its header", s && !strncmp(s, h, strlen(h)));
    }
    {
        char *l = s ? strstr(s, "\nMax open files") : NULL;
        char line[128] = "";
        if (l) sscanf(l + 1, "%127[^\n]", line);
        printf("  %s|\n", line);
        l = s ? strstr(s, "\nMax nice priority") : NULL;
        line[0] = 0;
        if (l) sscanf(l + 1, "%127[^\n]", line);
        printf("  Max nice priority line, no unit: %zu chars\n", strlen(line));
    }

    /* auxv: the pairs getauxval reads, up to AT_NULL. */
    s = slurp("/proc/self/auxv", &n);
    {
        unsigned long *v = (unsigned long *)s, pagesz = 0, last = 1;
        for (size_t i = 0; s && (i + 1) * 16 <= n; i++) {
            if (v[2 * i] == AT_PAGESZ) pagesz = v[2 * i + 1];
            last = v[2 * i];
        }
        YESNO("/proc/self/auxv has AT_PAGESZ 4096", pagesz == 4096);
        YESNO("  ends with AT_NULL, whole pairs", last == AT_NULL && n % 16 == 0);
        YESNO("  AT_PAGESZ as getauxval", getauxval(AT_PAGESZ) == pagesz);
    }

    /* stat: the fields this process knows about itself. */
    s = slurp("/proc/self/stat", NULL);
    {
        int pid = 0, ppid = 0, pgrp = 0, sid = 0;
        long prio = 0, nice = 0, threads = 0;
        char state = '?';
        char *after = s ? strrchr(s, ')') : NULL;
        int got = after ? sscanf(after + 2,
                                 "%c %d %d %d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %ld %ld %ld",
                                 &state, &ppid, &pgrp, &sid, &prio, &nice, &threads) : 0;
        if (s) sscanf(s, "%d", &pid);
        YESNO("/proc/self/stat parses", got == 7);
        YESNO("  pid, ppid, pgrp, session are ours", pid == getpid() && ppid == getppid() &&
              pgrp == getpgrp() && sid == getsid(0));
        printf("  state %c, threads %ld\n", state, threads);
        errno = 0;
        int pr = getpriority(PRIO_PROCESS, 0);
        YESNO("  nice is getpriority's, priority 20 + nice", errno == 0 && nice == pr && prio == 20 + pr);
        int fields = 0;
        for (char *p = after; p && *p; p++) fields += *p == ' ';
        printf("  fields after comm: %d\n", fields);
    }
    s = slurp("/proc/self/status", NULL);
    {
        char want[64];
        snprintf(want, sizeof want, "\nPid:\t%d\n", getpid());
        YESNO("/proc/self/status has our pid", s && strstr(s, want));
        snprintf(want, sizeof want, "\nUid:\t%u\t%u\t", getuid(), geteuid());
        YESNO("  and our uids", s && strstr(s, want));
        YESNO("  Threads: 1", s && strstr(s, "\nThreads:\t1\n"));
    }

    /* task/: one entry per thread, named by its tid. */
    {
        int numeric, n1 = count_entries("/proc/self/task", &numeric);
        printf("/proc/self/task entries, one thread: %d (numeric %s)\n", n1, numeric ? "yes" : "no");
        char path[64];
        snprintf(path, sizeof path, "/proc/self/task/%d/stat", getpid());
        s = slurp(path, NULL);
        YESNO("  task/PID/stat starts with the pid", s && atoi(s) == getpid());
        pthread_t th[2];
        pthread_barrier_init(&g_bar, NULL, 3);
        for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, parked_thread, NULL);
        pthread_barrier_wait(&g_bar);
        int n3 = count_entries("/proc/self/task", &numeric);
        printf("  entries with three threads: %d (numeric %s)\n", n3, numeric ? "yes" : "no");
        s = slurp("/proc/self/status", NULL);
        YESNO("  status Threads: 3", s && strstr(s, "\nThreads:\t3\n"));
        pthread_barrier_wait(&g_bar);
        for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
        pthread_barrier_destroy(&g_bar);
        RES("open /proc/self/task/0", open("/proc/self/task/0", O_RDONLY));
        RES("open /proc/self/task/01", open("/proc/self/task/01", O_RDONLY));
        RES("open /proc/self/fd/999999", open("/proc/self/fd/999999", O_RDONLY));
        RES("open /proc/self/nosuchfile", open("/proc/self/nosuchfile", O_RDONLY));
    }
}

/* System-wide files: their format and their agreement with syscalls. */
static void proc_system(void)
{
    char *s = slurp("/proc/sys/kernel/ostype", NULL);
    printf("/proc/sys/kernel/ostype: %s", s ? s : "(none)\n");
    s = slurp("/proc/sys/kernel/ngroups_max", NULL);
    printf("/proc/sys/kernel/ngroups_max: %s", s ? s : "(none)\n");
    {
        struct utsname u;
        uname(&u);
        char want[80];
        snprintf(want, sizeof want, "%s\n", u.nodename);
        s = slurp("/proc/sys/kernel/hostname", NULL);
        YESNO("/proc/sys/kernel/hostname is uname's nodename", s && !strcmp(s, want));
        snprintf(want, sizeof want, "%s\n", u.release);
        s = slurp("/proc/sys/kernel/osrelease", NULL);
        YESNO("/proc/sys/kernel/osrelease is uname's release", s && !strcmp(s, want));
        s = slurp("/proc/version", NULL);
        snprintf(want, sizeof want, "Linux version %s ", u.release);
        YESNO("/proc/version starts with Linux version RELEASE", s && !strncmp(s, want, strlen(want)));
    }
    s = slurp("/proc/loadavg", NULL);
    {
        double a, b, c;
        int run, total, last;
        char end;
        int got = s ? sscanf(s, "%lf %lf %lf %d/%d %d%c", &a, &b, &c, &run, &total, &last, &end) : 0;
        YESNO("/proc/loadavg parses", got == 7 && end == '\n');
        YESNO("  1 <= running <= total", run >= 1 && run <= total);
    }
    s = slurp("/proc/meminfo", NULL);
    {
        unsigned long total = 0, fre = 0, avail = 0, stotal = 0, sfree = 0;
        char *p;
        if (s && (p = strstr(s, "MemTotal:"))) sscanf(p, "MemTotal: %lu kB", &total);
        if (s && (p = strstr(s, "\nMemFree:"))) sscanf(p + 1, "MemFree: %lu kB", &fre);
        if (s && (p = strstr(s, "\nMemAvailable:"))) sscanf(p + 1, "MemAvailable: %lu kB", &avail);
        if (s && (p = strstr(s, "\nSwapTotal:"))) sscanf(p + 1, "SwapTotal: %lu kB", &stotal);
        if (s && (p = strstr(s, "\nSwapFree:"))) sscanf(p + 1, "SwapFree: %lu kB", &sfree);
        YESNO("/proc/meminfo: MemFree <= MemAvailable <= MemTotal", total > 0 && fre <= avail && avail <= total);
        YESNO("  SwapFree <= SwapTotal", sfree <= stotal);
        YESNO("  has Buffers and Cached", s && strstr(s, "\nBuffers:") && strstr(s, "\nCached:"));
        struct sysinfo si;
        sysinfo(&si);
        YESNO("  MemTotal is sysinfo's totalram",
              (unsigned long long)si.totalram * si.mem_unit / 1024 == total);
    }
    s = slurp("/proc/stat", NULL);
    {
        int cpus = 0;
        for (char *p = s; p && (p = strstr(p, "\ncpu")); p++) cpus++;
        YESNO("/proc/stat starts with the cpu line", s && !strncmp(s, "cpu  ", 5));
        YESNO("  has cpuN lines", cpus >= 1);
        long long btime = 0;
        char *p = s ? strstr(s, "\nbtime ") : NULL;
        if (p) sscanf(p, "\nbtime %lld", &btime);
        YESNO("  btime in the past", btime > 1577836800 && btime <= time(NULL));
        YESNO("  has processes, procs_running, procs_blocked",
              s && strstr(s, "\nprocesses ") && strstr(s, "\nprocs_running ") && strstr(s, "\nprocs_blocked "));
    }
    s = slurp("/proc/cpuinfo", NULL);
    YESNO("/proc/cpuinfo starts with processor 0", s && !strncmp(s, "processor\t: 0\n", 14));
    YESNO("  has vendor_id, model name and flags", s && strstr(s, "\nvendor_id\t: ") &&
          strstr(s, "\nmodel name\t: ") && strstr(s, "\nflags\t\t: "));
}

int main(int argc, char **argv)
{
    guest_init(argc, argv, "misc");

    struct utsname u;
    VAL("uname", uname(&u));
    printf("sysname: %s\n", u.sysname);
    printf("machine: %s\n", u.machine);
    YESNO("release non-empty", u.release[0] != 0);

    unsigned char rb[64];
    VAL("getrandom 16", getrandom(rb, 16, 0));
    VAL("getrandom 64 GRND_NONBLOCK", getrandom(rb, 64, GRND_NONBLOCK));
    VAL("getrandom 0", getrandom(rb, 0, 0));
    VAL("getrandom bad flags", syscall(SYS_getrandom, rb, 16, 0x100));
    {
        unsigned char a[32], b[32];
        getrandom(a, 32, 0);
        getrandom(b, 32, 0);
        YESNO("two getrandom results differ", memcmp(a, b, 32) != 0);
    }

    struct timespec t1, t2, res;
    VAL("clock_gettime MONOTONIC", clock_gettime(CLOCK_MONOTONIC, &t1));
    for (volatile int i = 0; i < 100000; i++) {}
    clock_gettime(CLOCK_MONOTONIC, &t2);
    YESNO("monotonic non-decreasing", ns(t2) >= ns(t1));
    long long prev = ns(t2);
    int ok = 1;
    for (int i = 0; i < 1000; i++) {
        clock_gettime(CLOCK_MONOTONIC, &t2);
        if (ns(t2) < prev) ok = 0;
        prev = ns(t2);
    }
    YESNO("1000 monotonic reads non-decreasing", ok);
    VAL("clock_gettime REALTIME", clock_gettime(CLOCK_REALTIME, &t2));
    YESNO("realtime after 2020", t2.tv_sec > 1577836800);
    VAL("clock_gettime BOOTTIME", clock_gettime(CLOCK_BOOTTIME, &t2));
    VAL("clock_gettime PROCESS_CPUTIME_ID", clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t2));
    VAL("clock_gettime bad clock", clock_gettime((clockid_t)1000, &t2));
    VAL("clock_getres MONOTONIC", clock_getres(CLOCK_MONOTONIC, &res));
    YESNO("resolution <= 1ms", ns(res) > 0 && ns(res) <= 1000000);
    {
        struct timeval tv;
        VAL("gettimeofday", gettimeofday(&tv, NULL));
        time_t t = time(NULL);
        YESNO("time() close to gettimeofday", t - tv.tv_sec >= 0 && t - tv.tv_sec <= 2);
    }

    struct timespec req = {0, 10 * 1000 * 1000}, rem = {9, 9};
    clock_gettime(CLOCK_MONOTONIC, &t1);
    VAL("nanosleep 10ms", nanosleep(&req, &rem));
    clock_gettime(CLOCK_MONOTONIC, &t2);
    YESNO("slept >= 10ms", ns(t2) - ns(t1) >= 10000000);
    YESNO("slept < 5s", ns(t2) - ns(t1) < 5000000000LL);
    req.tv_nsec = 1000000000;
    VAL("nanosleep tv_nsec 1e9", nanosleep(&req, NULL));
    req.tv_sec = -1; req.tv_nsec = 0;
    VAL("nanosleep negative", nanosleep(&req, NULL));
    {
        struct timespec abs;
        clock_gettime(CLOCK_MONOTONIC, &abs);
        abs.tv_nsec += 5000000;
        if (abs.tv_nsec >= 1000000000) { abs.tv_sec++; abs.tv_nsec -= 1000000000; }
        printf("clock_nanosleep TIMER_ABSTIME 5ms: %s\n",
               errname(clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &abs, NULL)));
        clock_gettime(CLOCK_MONOTONIC, &t2);
        YESNO("  woke after the deadline", ns(t2) >= ns(abs));
    }

    YESNO("getpid() > 0", getpid() > 0);
    YESNO("getppid() >= 0", getppid() >= 0);
    YESNO("gettid() == getpid() in main thread", syscall(SYS_gettid) == getpid());
    YESNO("getuid() == geteuid()", getuid() == geteuid());
    YESNO("getgid() == getegid()", getgid() == getegid());
    {
        uid_t r, e, s;
        VAL("getresuid", getresuid(&r, &e, &s));
        YESNO("  ruid == euid == suid", r == e && e == s);
    }
    YESNO("getpgrp() > 0", getpgrp() > 0);
    YESNO("getsid(0) > 0", getsid(0) > 0);
    VAL("getpgid(nonexistent)", getpgid(0x3fffffff));

    mode_t o = umask(027);
    (void)o;
    printf("umask round trip: %03o\n", (unsigned)umask(022));
    printf("umask round trip: %03o\n", (unsigned)umask(022));

    struct sysinfo si;
    VAL("sysinfo", sysinfo(&si));
    YESNO("sysinfo totalram > 0", si.totalram > 0);
    YESNO("sysinfo mem_unit > 0", si.mem_unit > 0);
    YESNO("sysinfo procs > 0", si.procs > 0);

    struct rlimit rl;
    VAL("getrlimit NOFILE", getrlimit(RLIMIT_NOFILE, &rl));
    YESNO("NOFILE cur <= max", rl.rlim_cur <= rl.rlim_max);
    YESNO("NOFILE cur >= 64", rl.rlim_cur >= 64);
    VAL("getrlimit STACK", getrlimit(RLIMIT_STACK, &rl));
    YESNO("STACK cur > 0", rl.rlim_cur > 0);
    VAL("getrlimit bad resource", getrlimit(1000, &rl));
    {
        struct rlimit nr = {100, 200}, back;
        VAL("prlimit64 set NOFILE 100/200", syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, &nr, NULL));
        getrlimit(RLIMIT_NOFILE, &back);
        printf("  read back: %lu %lu\n", (unsigned long)back.rlim_cur, (unsigned long)back.rlim_max);
        nr.rlim_cur = 300;
        VAL("setrlimit cur > max", setrlimit(RLIMIT_NOFILE, &nr));
    }

    char name[32] = {0};
    VAL("prctl PR_SET_NAME", prctl(PR_SET_NAME, "umk-test-name"));
    VAL("prctl PR_GET_NAME", prctl(PR_GET_NAME, name));
    printf("  name: %s\n", name);
    VAL("sched_yield", sched_yield());
    {
        cpu_set_t cs;
        CPU_ZERO(&cs);
        VAL("sched_getaffinity", sched_getaffinity(0, sizeof cs, &cs) == 0 ? 0 : -1);
        YESNO("  at least one cpu", CPU_COUNT(&cs) >= 1);
        YESNO("sysconf NPROCESSORS_ONLN >= 1", sysconf(_SC_NPROCESSORS_ONLN) >= 1);
        YESNO("sysconf PAGESIZE == 4096", sysconf(_SC_PAGESIZE) == 4096);
    }
    {
        char hn[256];
        VAL("gethostname", gethostname(hn, sizeof hn));
    }
    {
        char cwd[PATH_MAX];
        YESNO("getcwd ends with /misc.d", getcwd(cwd, sizeof cwd) &&
              strlen(cwd) >= 7 && !strcmp(cwd + strlen(cwd) - 7, "/misc.d"));
    }
    {
        struct rusage ru;
        VAL("getrusage SELF", getrusage(RUSAGE_SELF, &ru));
        VAL("getrusage bad who", getrusage(99, &ru));
    }
    VAL("unknown syscall 1000", syscall(1000));

    proc_self();
    proc_system();

    guest_cleanup();
    printf("done\n");
    return 0;
}
