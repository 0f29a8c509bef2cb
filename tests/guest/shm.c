/* Shared file mappings: shm_open, MAP_SHARED across fork and across
 * independent opens, POSIX semaphores, truncation under a mapping (SIGBUS),
 * msync, munmap, unlinked-but-mapped files, and mmap's error cases. */
#include "common.h"
#include <semaphore.h>
#include <setjmp.h>
#include <sys/mman.h>

#define PG 4096

static sigjmp_buf jb;

static void on_bus(int sig)
{
    siglongjmp(jb, sig);
}

/* Reads one byte at p; prints the byte or the signal it raised. */
static void probe(const char *label, volatile char *p)
{
    int sig = sigsetjmp(jb, 1);
    if (sig == 0)
        printf("%s: %c\n", label, *p ? *p : '0');
    else
        printf("%s: %s\n", label, signame(sig));
}

static void read_back(const char *label, int fd, long off, long n)
{
    char buf[64] = {0};
    long r = pread(fd, buf, n, off);
    printf("%s: %ld [%s]\n", label, r, buf);
}

static void child_exit(int st)
{
    fflush(stdout);
    _exit(st);
}

int main(int argc, char **argv)
{
    guest_init(argc, argv, "shm");
    char name[64];
    snprintf(name, sizeof name, "/umk-shm-test-%d", (int)getpid());

    /* shm_open + ftruncate + mmap; read(2) sees stores. */
    int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
    RES("shm_open", fd);
    RES("ftruncate", ftruncate(fd, 2 * PG));
    char *m = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    RES("mmap shared", m);
    if (m == MAP_FAILED)
        return 1;
    strcpy(m, "through the map");
    strcpy(m + PG, "second page");
    read_back("read after store", fd, 0, 15);
    read_back("read page 2", fd, PG, 11);
    /* write(2) is seen through the mapping. */
    pwrite(fd, "WRITE", 5, 0);
    printf("map after write: %.15s\n", m);

    /* fork: the child's stores reach the parent. */
    pid_t pid = fork();
    if (pid == 0) {
        strcpy(m + 100, "from the child");
        child_exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    printf("child %s, parent sees [%s]\n", wstatus_str(st), m + 100);

    /* A second mapping of the same file in the same process. */
    char *m2 = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    RES("second mmap", m2);
    if (m2 == MAP_FAILED)
        return 1;
    strcpy(m2 + 200, "via m2");
    printf("m sees m2: [%s] same address: %s\n", m + 200, m == m2 ? "yes" : "no");

    /* Another process opening the file by path maps the same pages. */
    pid = fork();
    if (pid == 0) {
        munmap(m, 2 * PG);
        munmap(m2, PG);
        int fd2 = shm_open(name, O_RDWR, 0);
        char *c = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd2, 0);
        if (c == MAP_FAILED)
            child_exit(1);
        printf("child by path sees [%s]\n", c + 200);
        strcpy(c + 300, "by path");
        child_exit(0);
    }
    waitpid(pid, &st, 0);
    printf("child %s, parent sees [%s]\n", wstatus_str(st), m + 300);

    /* A file in the scratch directory, two opens, two mappings. */
    int a = open("f", O_RDWR | O_CREAT | O_TRUNC, 0600);
    RES("write f", write(a, "0123456789", 10));
    int b = open("f", O_RDWR);
    char *ma = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, a, 0);
    char *mb = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, b, 0);
    RES("mmap a", ma);
    RES("mmap b", mb);
    ma[0] = 'A';
    mb[9] = 'B';
    printf("a sees [%.10s] b sees [%.10s]\n", ma, mb);
    read_back("read f", b, 0, 10);
    RES("msync", msync(ma, PG, MS_SYNC));
    RES("msync async", msync(mb, PG, MS_ASYNC));
    RES("msync bad flags", msync(ma, PG, MS_SYNC | MS_ASYNC));
    RES("munmap a", munmap(ma, PG));
    printf("b after munmap a [%.10s]\n", mb);

    /* MAP_SHARED read-only sees later writes. */
    int ro = open("f", O_RDONLY);
    char *mr = mmap(NULL, PG, PROT_READ, MAP_SHARED, ro, 0);
    RES("mmap shared read-only", mr);
    pwrite(a, "xyz", 3, 1);
    printf("read-only map sees write: [%.10s]\n", mr);
    RES("mprotect write on read-only fd", mprotect(mr, PG, PROT_READ | PROT_WRITE));
    RES("mprotect write on rw fd", mprotect(mb, PG, PROT_READ));
    RES("mprotect back", mprotect(mb, PG, PROT_READ | PROT_WRITE));

    /* Error cases. */
    RES("shared writable on O_RDONLY fd", mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0));
    RES("private writable on O_RDONLY fd", mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, ro, 0));
    RES("no map type", mmap(NULL, PG, PROT_READ, 0, a, 0));
    RES("both types", mmap(NULL, PG, PROT_READ, MAP_SHARED | MAP_PRIVATE | 0x4, a, 0));
    RES("unaligned offset", mmap(NULL, PG, PROT_READ, MAP_SHARED, a, 100));
    RES("zero length", mmap(NULL, 0, PROT_READ, MAP_SHARED, a, 0));
    RES("bad fd", mmap(NULL, PG, PROT_READ, MAP_SHARED, 999, 0));
    int wo = open("f", O_WRONLY);
    RES("write-only fd", mmap(NULL, PG, PROT_WRITE, MAP_SHARED, wo, 0));
    close(wo);
    RES("MAP_SHARED_VALIDATE", munmap(mmap(NULL, PG, PROT_READ, MAP_SHARED_VALIDATE, a, 0), PG));

    /* A private mapping does not reach the file. */
    char *mp = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, a, 0);
    RES("mmap private", mp);
    mp[0] = 'P';
    read_back("file after private store", a, 0, 10);

    /* Truncating under the mapping: beyond the end is SIGBUS. */
    struct sigaction sa = {0};
    sa.sa_handler = on_bus;
    sigaction(SIGBUS, &sa, NULL);
    probe("before truncate", m + PG);
    RES("ftruncate shrink", ftruncate(fd, 100));
    probe("same page after truncate", m + 50);
    probe("past the end in page", m + 200);
    probe("next page", m + PG);
    RES("ftruncate grow", ftruncate(fd, 2 * PG));
    probe("next page after grow", m + PG);
    m[PG] = 'g';
    read_back("read grown", fd, PG, 1);

    /* Unlinked but mapped: still shared with its open fd. */
    RES("shm_unlink", shm_unlink(name));
    strcpy(m + 500, "after unlink");
    read_back("read after unlink", fd, 500, 12);
    pid = fork();
    if (pid == 0) {
        strcpy(m + 600, "child after unlink");
        child_exit(0);
    }
    waitpid(pid, &st, 0);
    printf("parent sees [%s]\n", m + 600);
    close(fd);
    printf("after close [%s]\n", m + 600);
    RES("munmap", munmap(m, 2 * PG));

    /* POSIX semaphores across fork. */
    char sname[64];
    snprintf(sname, sizeof sname, "/umk-sem-test-%d", (int)getpid());
    sem_t *s = sem_open(sname, O_CREAT | O_EXCL, 0600, 0);
    RES("sem_open", s == SEM_FAILED ? -1 : 0);
    sem_t *done = mmap(NULL, sizeof(sem_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    sem_init(done, 1, 0);
    pid = fork();
    if (pid == 0) {
        sem_t *cs = sem_open(sname, 0);
        if (cs == SEM_FAILED)
            child_exit(2);
        for (int i = 0; i < 3; i++)
            sem_post(cs);
        sem_wait(done);
        printf("child woke\n");
        child_exit(0);
    }
    for (int i = 0; i < 3; i++)
        sem_wait(s);
    int v = -1;
    sem_getvalue(s, &v);
    printf("parent got 3 posts, value %d\n", v);
    sem_post(done);
    waitpid(pid, &st, 0);
    printf("child %s\n", wstatus_str(st));
    RES("sem_trywait empty", sem_trywait(s));
    sem_close(s);
    RES("sem_unlink", sem_unlink(sname));

    close(a);
    close(b);
    close(ro);
    unlink("f");
    guest_cleanup();
    printf("done\n");
    return 0;
}
