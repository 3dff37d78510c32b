/*
 * csv_ssse3.c — the CSV walk (csv_walk.h) built with SSSE3, for the CPUs
 * that have it (csv.c asks the CPU when it opens a file). Compiled with
 * -mssse3 on x86-64 only; elsewhere it holds nothing.
 */
#include "csv_walk.h"

#ifdef __SSSE3__
void rt_csv_walk_ssse3(rt_csv *c, const rt_csv_plan *plan, char *p, char *nl)
{
    RT_CSV_WALK(c, plan, p, nl);
}
#else
typedef int rt_csv_ssse3_none;   /* a translation unit may not be empty */
#endif
