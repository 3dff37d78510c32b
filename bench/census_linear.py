#!/usr/bin/env python3
"""Peer for bench/census_linear.sh: scikit-learn's SGDClassifier (log loss) on
the census linear model's features, encoded as the equivalent one-hot sparse
matrix (bucketized age, vocabularies, hashed and crossed columns, capital
loss and hours as scaled numbers), trained for the same number of epochs.

Prints one line: fit_seconds examples accuracy auc
"""
import sys, time
import numpy as np
from scipy import sparse
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import roc_auc_score

COLS = ["age", "workclass", "fnlwgt", "education", "education_num", "marital_status",
        "occupation", "relationship", "race", "gender", "capital_gain", "capital_loss",
        "hours_per_week", "native_country", "income_bracket"]
AGE_B = [18, 25, 30, 35, 40, 45, 50, 55, 60, 65]
GAIN_B = [1, 3000, 5000, 7000, 10000]
HASH = 1000


def read(path, skip):
    rows = []
    with open(path) as f:
        for i, line in enumerate(f):
            if i < skip or not line.strip():
                continue
            rows.append([x.strip() for x in line.split(",")])
    return rows


def encode(rows, stats=None):
    """Column blocks: each categorical becomes one one-hot block; each numeric one column."""
    n = len(rows)
    blocks = []
    def onehot(ids, width):
        return sparse.csr_matrix((np.ones(n), (np.arange(n), ids)), shape=(n, width))
    c = {k: [r[i] for r in rows] for i, k in enumerate(COLS)}
    age = np.array(c["age"], float)
    blocks.append(onehot(np.searchsorted(AGE_B, age, side="right"), len(AGE_B) + 1))
    for col in ["education", "marital_status", "relationship", "workclass"]:
        vocab = {v: i for i, v in enumerate(sorted(set(c[col])))}
        blocks.append(onehot(np.array([vocab[v] for v in c[col]]), len(vocab)))
    for col in ["occupation", "native_country"]:
        blocks.append(onehot(np.array([hash(v) % HASH for v in c[col]]), HASH))
    gain = np.array(c["capital_gain"], float)
    blocks.append(onehot(np.searchsorted(GAIN_B, gain, side="right"), len(GAIN_B) + 1))
    loss = np.array(c["capital_loss"], float)
    hours = np.array(c["hours_per_week"], float)
    if stats is None:
        stats = (loss.min(), loss.max(), hours.mean(), hours.std())
    blocks.append(sparse.csr_matrix(((loss - stats[0]) / (stats[1] - stats[0])).reshape(-1, 1)))
    blocks.append(sparse.csr_matrix(((hours - stats[2]) / stats[3]).reshape(-1, 1)))
    ab = np.searchsorted(AGE_B, age, side="right")
    blocks.append(onehot(np.array([hash((e, o)) % HASH for e, o in zip(c["education"], c["occupation"])]), HASH))
    blocks.append(onehot(np.array([hash((a, e, o)) % HASH for a, e, o in zip(ab, c["education"], c["occupation"])]), HASH))
    y = np.array([1 if v.startswith(">50K") else 0 for v in c["income_bracket"]])
    return sparse.hstack(blocks).tocsr(), y, stats


def main():
    data, test, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    X, y, stats = encode(read(data, 0))
    Xt, yt, _ = encode(read(test, 1), stats)
    Xt = Xt[:, :X.shape[1]] if Xt.shape[1] >= X.shape[1] else sparse.hstack(
        [Xt, sparse.csr_matrix((Xt.shape[0], X.shape[1] - Xt.shape[1]))]).tocsr()
    clf = SGDClassifier(loss="log_loss", max_iter=epochs, tol=None, random_state=42, alpha=1e-5)
    t0 = time.perf_counter()
    clf.fit(X, y)
    t = time.perf_counter() - t0
    p = clf.predict_proba(Xt)[:, 1]
    acc = float(((p > 0.5) == yt).mean())
    print(f"{t:.4f} {X.shape[0] * epochs} {acc:.4f} {roc_auc_score(yt, p):.4f}")


main()
