#!/usr/bin/env python3
"""The table of powers of five in runtime/number.c (rt_pow5_128).

For each decimal exponent q in [-27, 27]: the 128 most significant bits of
5^q, normalised so that bit 127 is set. 5^q for q >= 0 is exact in them
(5^27 < 2^63); for q < 0 the value is the reciprocal 2^b / 5^-q rounded up,
as in Lemire's "Number Parsing at a Gigabyte per Second" (2021), whose
products with a 64-bit mantissa decide the rounding of every double there
(Mushtak and Lemire, "Fast Number Parsing Without Fallback", 2023).

    python3 scripts/pow5_table.py     prints the C initialiser
"""

LO, HI = -27, 27


def row(q):
    if q >= 0:
        p = 5 ** q
        while p < (1 << 127):
            p *= 2
        while p >= (1 << 128):
            p //= 2
        return p
    p5 = 5 ** -q
    z = 0
    while (1 << z) < p5:
        z += 1
    c = 2 ** (z + 127) // p5 + 1
    assert (1 << 127) <= c < (1 << 128)
    return c


def main():
    mask = (1 << 64) - 1
    for q in range(LO, HI + 1):
        c = row(q)
        print("    { UINT64_C(0x%016x), UINT64_C(0x%016x) },   /* 5^%d */" % (c >> 64, c & mask, q))


if __name__ == "__main__":
    main()
