/* hello: argv, a subset of envp, exit code 42.
 * usage: hello [SCRATCH [ARGS...]]
 * Prints argc, basename(argv[0]), the arguments after SCRATCH, and the
 * environment variables whose names start with UMK_TEST_, sorted. */
#include "common.h"

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv, char **envp)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("hello from umk guest test\n");
    printf("argc: %d\n", argc);
    const char *base = strrchr(argv[0], '/');
    printf("argv0 basename: %s\n", base ? base + 1 : argv[0]);
    for (int i = 2; i < argc; i++) printf("arg %d: [%s]\n", i, argv[i]);
    YESNO("argv[argc] is NULL", argv[argc] == NULL);

    char *vars[256];
    int n = 0;
    for (char **e = envp; *e && n < 256; e++)
        if (!strncmp(*e, "UMK_TEST_", 9)) vars[n++] = *e;
    qsort(vars, n, sizeof vars[0], cmp);
    for (int i = 0; i < n; i++) printf("env: %s\n", vars[i]);
    YESNO("environ == envp", environ == envp);
    const char *g = getenv("UMK_TEST_GREETING");
    printf("getenv UMK_TEST_GREETING: %s\n", g ? g : "(unset)");
    printf("exiting with 42\n");
    return 42;
}
