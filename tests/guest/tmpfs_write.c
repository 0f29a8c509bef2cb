/* tmpfs_write: the write path in the scratch directory (tmpfs inside umk).
 * create/write/read back, O_APPEND, O_TRUNC, O_EXCL, mkdir/rmdir, unlink,
 * rename, symlink, link, ftruncate/truncate, holes, chmod, utimensat.
 * usage: tmpfs_write [SCRATCH] */
#include "common.h"
#include <sys/syscall.h>

static void st(const char *label, const char *path)
{
    struct stat s;
    if (lstat(path, &s) != 0) {
        printf("%s: %s\n", label, errname(errno));
        return;
    }
    printf("%s: type %c mode %04o", label, type_char(s.st_mode), (unsigned)(s.st_mode & 07777));
    if (!S_ISDIR(s.st_mode)) printf(" size %lld nlink %lu", (long long)s.st_size,
                                    (unsigned long)s.st_nlink);
    printf("\n");
}

static void cat(const char *label, const char *path)
{
    char buf[256];
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        printf("%s: %s\n", label, errname(errno));
        return;
    }
    long n = read(fd, buf, sizeof buf);
    close(fd);
    print_bytes(label, buf, n);
}

static int cmpstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void ls(const char *label, const char *path)
{
    DIR *d = opendir(path);
    if (!d) {
        printf("%s: %s\n", label, errname(errno));
        return;
    }
    char *names[256];
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < 256)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            names[n++] = strdup(de->d_name);
    closedir(d);
    qsort(names, n, sizeof names[0], cmpstr);
    printf("%s:", label);
    for (int i = 0; i < n; i++) {
        printf(" %s", names[i]);
        free(names[i]);
    }
    printf("\n");
}

int main(int argc, char **argv)
{
    guest_init(argc, argv, "tmpfs_write");
    umask(022);
    char buf[16384];
    int fd;
    struct stat s;

    /* --- create / write / read back -------------------------------------- */
    fd = open("f", O_WRONLY | O_CREAT, 0666);
    YESNO("create f", fd >= 0);
    VAL("write hello", write(fd, "hello", 5));
    fstat(fd, &s);
    printf("fstat size %lld mode %04o (umask 022)\n", (long long)s.st_size,
           (unsigned)(s.st_mode & 07777));
    VAL("read on O_WRONLY fd", read(fd, buf, 1));
    close(fd);
    cat("read back f", "f");
    fd = open("f", O_RDWR);
    VAL("lseek 2", lseek(fd, 2, SEEK_SET));
    VAL("overwrite middle", write(fd, "LL", 2));
    VAL("pwrite at 10 (past EOF)", pwrite(fd, "Z", 1, 10));
    VAL("offset unchanged by pwrite", lseek(fd, 0, SEEK_CUR));
    fstat(fd, &s);
    printf("size after pwrite: %lld\n", (long long)s.st_size);
    close(fd);
    cat("content with hole", "f");

    /* --- O_APPEND -------------------------------------------------------- */
    fd = open("f", O_WRONLY | O_APPEND);
    lseek(fd, 0, SEEK_SET);
    VAL("append write", write(fd, "AP", 2));
    VAL("offset after append", lseek(fd, 0, SEEK_CUR));
    VAL("pwrite at 0 on O_APPEND fd", pwrite(fd, "Q", 1, 0));
    close(fd);
    cat("after append", "f");

    /* --- O_TRUNC / O_EXCL ------------------------------------------------ */
    fd = open("f", O_WRONLY | O_TRUNC);
    fstat(fd, &s);
    printf("O_TRUNC size: %lld\n", (long long)s.st_size);
    close(fd);
    VAL("O_CREAT|O_EXCL existing", open("f", O_WRONLY | O_CREAT | O_EXCL, 0644));
    fd = open("g", O_WRONLY | O_CREAT | O_EXCL, 0600);
    YESNO("O_CREAT|O_EXCL new", fd >= 0);
    close(fd);
    st("stat g", "g");
    symlink("dangling_target", "dlink");
    VAL("O_CREAT|O_EXCL on dangling symlink", open("dlink", O_WRONLY | O_CREAT | O_EXCL, 0644));
    fd = open("dlink", O_WRONLY | O_CREAT, 0644);
    YESNO("O_CREAT through dangling symlink creates target", fd >= 0);
    close(fd);
    st("stat dangling_target", "dangling_target");
    VAL("O_CREAT in missing dir", open("nodir/x", O_WRONLY | O_CREAT, 0644));
    VAL("O_CREAT with trailing slash", open("newfile/", O_WRONLY | O_CREAT, 0644));
    VAL("O_CREAT on existing dir", open(".", O_WRONLY | O_CREAT, 0644));
    chmod("g", 0444);
    fd = open("g", O_RDONLY);
    VAL("write to O_RDONLY fd", write(fd, "x", 1));
    close(fd);

    /* --- mkdir / rmdir --------------------------------------------------- */
    VAL("mkdir d", mkdir("d", 0777));
    st("stat d", "d");
    VAL("mkdir d again", mkdir("d", 0755));
    VAL("mkdir missing parent", mkdir("nope/x", 0755));
    VAL("mkdir over file", mkdir("f", 0755));
    VAL("mkdir d/sub", mkdir("d/sub", 0700));
    st("stat d/sub", "d/sub");
    write_file("d/file", "in d\n");
    VAL("rmdir non-empty d", rmdir("d"));
    VAL("rmdir file", rmdir("f"));
    VAL("rmdir missing", rmdir("missing"));
    VAL("rmdir .", rmdir("."));
    VAL("rmdir d/sub/..", rmdir("d/sub/.."));
    VAL("unlink a directory", unlink("d/sub"));
    VAL("rmdir d/sub", rmdir("d/sub"));
    VAL("unlink d/file", unlink("d/file"));
    VAL("unlink d/file again", unlink("d/file"));
    VAL("rmdir d (now empty)", rmdir("d"));
    VAL("stat d after rmdir", stat("d", &s));

    /* --- unlink while open -------------------------------------------------- */
    write_file("tmp", "still here\n");
    fd = open("tmp", O_RDWR);
    VAL("unlink open file", unlink("tmp"));
    fstat(fd, &s);
    printf("fstat after unlink: nlink %lu size %lld\n", (unsigned long)s.st_nlink,
           (long long)s.st_size);
    long n = pread(fd, buf, sizeof buf, 0);
    print_bytes("read after unlink", buf, n);
    VAL("write after unlink", write(fd, "x", 1));
    close(fd);
    VAL("open unlinked name", open("tmp", O_RDONLY));

    /* --- rename -------------------------------------------------------------- */
    write_file("r1", "one\n");
    write_file("r2", "two\n");
    VAL("rename r1 -> r3", rename("r1", "r3"));
    VAL("stat r1 after rename", stat("r1", &s));
    cat("r3", "r3");
    VAL("rename r3 over r2", rename("r3", "r2"));
    cat("r2 after replace", "r2");
    VAL("rename missing", rename("r1", "r4"));
    VAL("rename to itself", rename("r2", "r2"));
    mkdir("da", 0755);
    mkdir("da/inner", 0755);
    mkdir("db", 0755);
    write_file("db/x", "x");
    mkdir("dc", 0755);
    VAL("rename dir into its own subdir", rename("da", "da/inner/da"));
    VAL("rename dir over non-empty dir", rename("da", "db"));
    VAL("rename dir over empty dir", rename("da", "dc"));
    st("stat dc/inner", "dc/inner");
    VAL("rename file over dir", rename("r2", "db"));
    VAL("rename dir over file", rename("dc", "r2"));
    VAL("rename file into dir", rename("r2", "db/r2"));
    cat("db/r2", "db/r2");
    VAL("rename . ", rename(".", "dot"));
    VAL("rename with trailing slash on file", rename("db/r2/", "r5"));
    VAL("renameat2 RENAME_NOREPLACE onto existing",
        syscall(SYS_renameat2, AT_FDCWD, "db/r2", AT_FDCWD, "db/x", 1 /* RENAME_NOREPLACE */));
    VAL("renameat2 RENAME_EXCHANGE",
        syscall(SYS_renameat2, AT_FDCWD, "db/r2", AT_FDCWD, "db/x", 2 /* RENAME_EXCHANGE */));
    cat("db/r2 after exchange", "db/r2");
    cat("db/x after exchange", "db/x");

    /* --- symlink ----------------------------------------------------------- */
    VAL("symlink sl -> db/x", symlink("db/x", "sl"));
    n = readlink("sl", buf, sizeof buf);
    print_bytes("readlink sl", buf, n);
    st("lstat sl", "sl");
    cat("read through sl", "sl");
    VAL("symlink onto existing name", symlink("whatever", "sl"));
    VAL("symlink empty target", symlink("", "sl_empty"));
    VAL("unlink symlink (target stays)", unlink("sl"));
    YESNO("target still exists", stat("db/x", &s) == 0);
    symlink("db", "sdir");
    VAL("rmdir via symlink to dir", rmdir("sdir"));
    VAL("mkdir through symlink path sdir/new", mkdir("sdir/new", 0755));
    st("stat db/new", "db/new");

    /* --- link ------------------------------------------------------------ */
    write_file("h1", "hard\n");
    VAL("link h1 h2", link("h1", "h2"));
    st("stat h1", "h1");
    st("stat h2", "h2");
    {
        struct stat a, b;
        stat("h1", &a);
        stat("h2", &b);
        YESNO("same inode", a.st_ino == b.st_ino && a.st_dev == b.st_dev);
    }
    fd = open("h2", O_WRONLY | O_APPEND);
    write(fd, "more\n", 5);
    close(fd);
    cat("h1 sees write through h2", "h1");
    VAL("link onto existing", link("h1", "h2"));
    VAL("link a directory", link("db", "db2"));
    VAL("link missing", link("nope", "h3"));
    VAL("unlink h1", unlink("h1"));
    st("stat h2 after unlink h1", "h2");
    VAL("linkat AT_SYMLINK_FOLLOW via symlink", (symlink("h2", "hsl"),
        linkat(AT_FDCWD, "hsl", AT_FDCWD, "h4", AT_SYMLINK_FOLLOW)));
    st("stat h4", "h4");
    VAL("linkat of symlink itself", linkat(AT_FDCWD, "hsl", AT_FDCWD, "hsl2", 0));
    st("lstat hsl2", "hsl2");

    /* --- ftruncate / truncate ---------------------------------------------- */
    write_file("t", "0123456789");
    fd = open("t", O_RDWR);
    VAL("ftruncate 10000", ftruncate(fd, 10000));
    fstat(fd, &s);
    printf("size: %lld\n", (long long)s.st_size);
    n = pread(fd, buf, 16, 5000);
    print_bytes("bytes at 5000 (hole)", buf, n);
    n = pread(fd, buf, 16, 0);
    print_bytes("bytes at 0", buf, n);
    VAL("ftruncate 3", ftruncate(fd, 3));
    n = pread(fd, buf, 16, 0);
    print_bytes("after shrink", buf, n);
    VAL("offset unchanged", lseek(fd, 0, SEEK_CUR));
    VAL("ftruncate negative", ftruncate(fd, -1));
    close(fd);
    fd = open("t", O_RDONLY);
    VAL("ftruncate O_RDONLY fd", ftruncate(fd, 0));
    close(fd);
    VAL("truncate path 7", truncate("t", 7));
    n = 0;
    fd = open("t", O_RDONLY);
    n = read(fd, buf, 16);
    close(fd);
    print_bytes("after truncate 7 (grow)", buf, n);
    VAL("truncate dir", truncate("db", 0));
    VAL("truncate missing", truncate("missing", 0));

    /* --- big write / read back -------------------------------------------- */
    {
        for (int i = 0; i < (int)sizeof buf; i++) buf[i] = (char)(i * 7 + 1);
        uint32_t hw = FNV_INIT, hr = FNV_INIT;
        fd = open("big", O_RDWR | O_CREAT | O_TRUNC, 0644);
        long tot = 0;
        for (int i = 0; i < 64; i++) {
            long w = write(fd, buf, sizeof buf);
            if (w > 0) { hw = fnv1a(buf, w, hw); tot += w; }
        }
        printf("wrote %ld bytes\n", tot);
        lseek(fd, 0, SEEK_SET);
        char rb[10000];
        long got = 0;
        while ((n = read(fd, rb, sizeof rb)) > 0) { hr = fnv1a(rb, n, hr); got += n; }
        printf("read back %ld bytes, checksum matches: %s\n", got, hw == hr ? "yes" : "no");
        close(fd);
        st("stat big", "big");
    }

    /* --- chmod / fchmod / utimensat ---------------------------------------- */
    VAL("chmod 0600", chmod("t", 0600));
    st("stat t", "t");
    fd = open("t", O_RDONLY);
    VAL("fchmod 04755", fchmod(fd, 04755));
    st("stat t", "t");
    close(fd);
    {
        struct timespec ts[2] = {{1000000000, 5}, {1234567890, 123456789}};
        VAL("utimensat", utimensat(AT_FDCWD, "t", ts, 0));
        stat("t", &s);
        printf("atime %lld.%09ld mtime %lld.%09ld\n", (long long)s.st_atim.tv_sec,
               s.st_atim.tv_nsec, (long long)s.st_mtim.tv_sec, s.st_mtim.tv_nsec);
        struct timespec om[2] = {{0, UTIME_OMIT}, {42, 0}};
        utimensat(AT_FDCWD, "t", om, 0);
        stat("t", &s);
        printf("after UTIME_OMIT atime: atime %lld mtime %lld\n", (long long)s.st_atim.tv_sec,
               (long long)s.st_mtim.tv_sec);
    }
    VAL("mkdir with umask 027", (umask(027), mkdir("m", 0777)));
    st("stat m", "m");
    umask(022);

    ls("final listing", ".");
    ls("db", "db");
    guest_cleanup();
    printf("done\n");
    return 0;
}
