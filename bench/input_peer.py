#!/usr/bin/env python3
"""The peer readers of benchmark B4 (bench/input.sh): the same CSV files read
with what Debian's Python ships, values converted to numbers as estc does.

    input_peer.py csv   adult|numeric FILE   Python's csv module, float()/int() per numeric field
    input_peer.py numpy numeric FILE         numpy.loadtxt into a float64 matrix

Prints: rows, bytes, wall seconds, CPU seconds (one thread)."""
import csv
import os
import sys
import time

ADULT_NUMERIC = (0, 2, 4, 10, 11, 12)   # age, fnlwgt, education_num, capital_gain/loss, hours


def read_csv(kind, path):
    rows = 0
    with open(path, newline="") as f:
        if kind == "adult":   # ", " separated: the csv module splits on "," and skips the blank
            for row in csv.reader(f, skipinitialspace=True):
                if not row:
                    continue
                for i in ADULT_NUMERIC:
                    float(row[i])
                rows += 1
        else:
            for row in csv.reader(f):
                [float(x) for x in row]
                rows += 1
    return rows


def read_numpy(path):
    import numpy
    return numpy.loadtxt(path, delimiter=",", dtype=numpy.float64).shape[0]


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("csv", "numpy") or sys.argv[2] not in ("adult", "numeric"):
        sys.exit(__doc__)
    how, kind, path = sys.argv[1:]
    w0, c0 = time.perf_counter(), time.process_time()
    rows = read_csv(kind, path) if how == "csv" else read_numpy(path)
    w1, c1 = time.perf_counter(), time.process_time()
    print(rows, os.path.getsize(path), "%.3f" % (w1 - w0), "%.3f" % (c1 - c0))


if __name__ == "__main__":
    main()
