/* misc: uname, getrandom, clocks, nanosleep, ids, umask, sysinfo, rlimits,
 * prctl name, sched_yield, affinity.
 * usage: misc [SCRATCH] */
#include "common.h"
#include <sched.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <time.h>

static long long ns(struct timespec t) { return t.tv_sec * 1000000000LL + t.tv_nsec; }

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

    guest_cleanup();
    printf("done\n");
    return 0;
}
