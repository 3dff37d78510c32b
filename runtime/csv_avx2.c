/*
 * csv_avx2.c — the CSV walk (csv_walk.h) built for the CPUs of the last ten
 * years: AVX2's three-operand forms keep the scan's constants in registers,
 * and BMI1/BMI2 find the digits' bounds in fewer instructions (csv.c asks
 * the CPU when it opens a file). Compiled with -mavx2 -mbmi -mbmi2 -mfma on
 * x86-64 only; elsewhere it holds nothing.
 */
#include "csv_walk.h"

#if defined(__AVX2__) && defined(__BMI__) && defined(__BMI2__)
void rt_csv_walk_avx2(rt_csv *c, const rt_csv_plan *plan, char *p, char *nl)
{
    RT_CSV_WALK(c, plan, p, nl);
}
#else
typedef int rt_csv_avx2_none;    /* a translation unit may not be empty */
#endif
