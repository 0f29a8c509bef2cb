/* Makes a known number of syscalls, for umk's --stats test:
 *   calls N M   N getppid() calls and M io_uring_setup() calls (which umk
 *               does not implement: ENOSYS). */
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 0, m = argc > 2 ? atoi(argv[2]) : 0;
    for (int i = 0; i < n; i++) syscall(SYS_getppid);
    for (int i = 0; i < m; i++) syscall(425 /* io_uring_setup */, 1, 0);
    return 0;
}
