/* check.c — counters and helpers for tests/check.h. */
#include "check.h"

#include <math.h>
#include <stdlib.h>

int check_passed, check_failed;

int check_close(double a, double b, double rtol, double atol)
{
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    return fabs(a - b) <= atol + rtol * fabs(b);
}

const char *check_src(const char *rel)
{
    static char buf[8][4096];
    static int k;
    const char *root = getenv("ESTC_SOURCE_DIR");
    char *b = buf[k++ % 8];
    snprintf(b, sizeof buf[0], "%s/%s", root ? root : ".", rel);
    return b;
}

int check_done(const char *suite)
{
    printf("%s: %d passed, %d failed\n", suite, check_passed, check_failed);
    return check_failed ? 1 : 0;
}
