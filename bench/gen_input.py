#!/usr/bin/env python3
"""Input files for benchmark B4 (bench/input.sh), with the models that read them.

    gen_input.py adult   OUT.csv MB    Adult-like rows: adult.data's rows repeated,
                                       numbers perturbed, ", "-separated
    gen_input.py numeric OUT.csv MB    a wide numeric file: 96 float and 8 int columns
                                       and a float label, ","-separated
    gen_input.py numeric-model OUT.est DATA.csv
                                       the LinearRegressor reading every column of it

Files are deterministic (seeded) and about MB * 10^6 bytes. Rows are produced
in blocks of distinct random rows; to keep generation quick each block is
written several times, which changes nothing for a reader that does not cache.
"""
import os
import random
import sys

NUM_FLOAT = 96
NUM_INT = 8
REPEAT = 4          # each generated block is written this many times


def float_cols():
    return [f"x{i}" for i in range(NUM_FLOAT)]


def int_cols():
    return [f"n{i}" for i in range(NUM_INT)]


# How the float columns are written, cycling over the columns: the kinds of
# decimals real exports hold.
def fmt_unit(r):      # "0.123456"
    return "%.6f" % r.random()


def fmt_tenth(r):     # "-12.5"
    return "%.1f" % r.gauss(0, 20)


def fmt_small(r):     # "3e-05", "0.000123457"
    return "%g" % (r.random() * 10 ** r.randint(-6, -2))


def fmt_money(r):     # "1234.56"
    return "%.2f" % (r.random() * 10000)


def fmt_int(r):       # "417" in a float column
    return str(r.randint(0, 5000))


def fmt_sci(r):       # "-1.2345e+03"
    return "%.4e" % r.uniform(-1e4, 1e4)


def fmt_repr(r):      # "0.8444218515250481", as pandas writes a double
    return repr(r.random())


FORMATS = [fmt_unit, fmt_tenth, fmt_small, fmt_money, fmt_int, fmt_unit, fmt_sci, fmt_tenth,
           fmt_unit, fmt_money, fmt_small, fmt_int, fmt_unit, fmt_tenth, fmt_money, fmt_repr]


def numeric_block(r, nrows):
    fmts = [FORMATS[i % len(FORMATS)] for i in range(NUM_FLOAT)]
    out = []
    for _ in range(nrows):
        row = [f(r) for f in fmts]
        row += [str(r.randint(-1000, 100000)) for _ in range(NUM_INT)]
        row.append("%.3f" % r.gauss(0, 1))
        out.append(",".join(row))
    out.append("")
    return "\n".join(out)


def adult_block(r, rows):
    out = []
    for f in rows:
        f = list(f)
        f[0] = str(max(17, min(90, int(f[0]) + r.randint(-2, 2))))        # age
        f[2] = str(max(10000, int(f[2]) + r.randint(-5000, 5000)))        # fnlwgt
        f[12] = str(max(1, min(99, int(f[12]) + r.randint(-3, 3))))       # hours_per_week
        out.append(", ".join(f))
    out.append("")
    return "\n".join(out)


def write(path, mb, block):
    target = int(mb * 1e6)
    r = random.Random(20240611)
    tmp = path + ".tmp"
    n = 0
    with open(tmp, "wb") as f:
        while n < target:
            b = block(r).encode()
            for _ in range(REPEAT):
                if n >= target:
                    break
                f.write(b)
                n += len(b)
    os.replace(tmp, path)


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("adult", "numeric", "numeric-model"):
        sys.exit(__doc__)
    kind, out = sys.argv[1], sys.argv[2]
    if kind == "numeric-model":
        data = os.path.abspath(sys.argv[3])
        cols = [f"{c}: float" for c in float_cols()] + [f"{c}: int" for c in int_cols()] + ["y: float"]
        feats = float_cols() + int_cols()
        with open(out, "w") as f:
            f.write("# B4's wide numeric file: every column a numeric feature (bench/gen_input.py)\n")
            f.write(f'source wide = csv("{data}") {{\n    ' + ",\n    ".join(cols) + "\n}\n")
            f.write("label y = numeric(y)\n")
            for c in feats:
                f.write(f"feature f_{c} = numeric({c})\n")
            f.write("estimator wide_model = LinearRegressor(features = [" +
                    ", ".join(f"f_{c}" for c in feats) + "])\n")
            f.write("run { train_data = wide, batch_size = 256, epochs = 1 }\n")
        return
    mb = float(sys.argv[3])
    if kind == "numeric":
        write(out, mb, lambda r: numeric_block(r, 2000))
    else:
        src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "census", "data", "adult.data")
        with open(src) as f:
            rows = [line.rstrip("\n").split(", ") for line in f if line.strip()]
        write(out, mb, lambda r: adult_block(r, rows))


if __name__ == "__main__":
    main()
