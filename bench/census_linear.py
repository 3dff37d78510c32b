#!/usr/bin/env python3
"""scikit-learn peer for B1 (bench/census_linear.sh): SGDClassifier (log
loss) on the census linear model's features as the equivalent one-hot sparse
matrix, built from estc's own encoded examples (`estc-bench-loop --dump DIR`):
each categorical feature's ids become one one-hot block (an invalid id, -1,
none), the numeric features one column each, normalised as estc does
(statistics from the training data). Same examples, same epochs, one thread,
the matrix in memory before fit() starts: the peer's best case.

    census_linear.py DIR EPOCHS

Prints one line: fit_seconds examples accuracy auc
"""
import sys, time
import numpy as np
from scipy import sparse
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import roc_auc_score


def load(d, split, meta):
    out = {}
    for name, kind, width, nb in meta:
        dt = np.float32 if kind == "num" else np.int32
        out[name] = np.fromfile(f"{d}/{split}/{name}.bin", dtype=dt).reshape(-1, width)
    return out


def encode(cols, meta, stats):
    n = cols["label"].shape[0]
    blocks = []
    for name, kind, width, nb in meta:
        if kind == "cat":
            ids = cols[name]
            r, c = np.nonzero(ids >= 0)
            blocks.append(sparse.csr_matrix((np.ones(len(r)), (r, ids[r, c])), shape=(n, nb)))
        elif kind == "num":
            lo, scale = stats[name]
            blocks.append(sparse.csr_matrix((cols[name] - lo) / scale))
    return sparse.hstack(blocks).tocsr(), cols["label"].reshape(-1)


def main():
    d, epochs = sys.argv[1], int(sys.argv[2])
    meta, norms = [], {}
    for line in open(f"{d}/meta.txt"):
        name, kind, width, nb, norm = line.split()
        meta.append((name, kind, int(width), int(nb)))
        norms[name] = norm
    tr, te = load(d, "train", meta), load(d, "test", meta)
    # estc's minmax and zscore statistics (this model has no other numeric normalisation)
    stats = {}
    for name, kind, width, nb in meta:
        if kind == "num":
            x = tr[name]
            stats[name] = (x.min(), x.max() - x.min()) if norms[name] == "minmax" else (x.mean(), x.std())
    X, y = encode(tr, meta, stats)
    Xt, yt = encode(te, meta, stats)
    clf = SGDClassifier(loss="log_loss", max_iter=epochs, tol=None, random_state=42, alpha=1e-5)
    t0 = time.perf_counter()
    clf.fit(X, y)
    t = time.perf_counter() - t0
    p = clf.predict_proba(Xt)[:, 1]
    acc = float(((p > 0.5) == yt).mean())
    print(f"{t:.4f} {X.shape[0] * epochs} {acc:.4f} {roc_auc_score(yt, p):.4f}")


main()
