#!/usr/bin/env python3
"""PyTorch peer for B1 (bench/census_linear.sh): the census linear model on
estc's own encoded examples (written by `estc-bench-loop --dump DIR`), as one
nn.EmbeddingBag of width 1 over all categorical features (each feature's ids
offset into one table, summed per example: the linear model's gather_sum),
nn.Linear for the numeric features (normalised as estc does, statistics from
the training data), a bias, sigmoid cross-entropy, Adagrad (accumulator 0.1)
(dense gradients for the table: at 3,000 rows they run faster here than
sparse ones). One thread, data in memory as tensors,
the same batch size, the same epochs over the same examples in the same order.

    census_linear_torch.py DIR EPOCHS BATCH LR

Prints one line: train_seconds examples accuracy auc
"""
import sys, time
import numpy as np
import torch
from sklearn.metrics import roc_auc_score

torch.set_num_threads(1)
torch.manual_seed(42)


def load(d, split, meta):
    out = {}
    for name, kind, width, nb in meta:
        dt = np.float32 if kind == "num" else np.int32
        out[name] = np.fromfile(f"{d}/{split}/{name}.bin", dtype=dt).reshape(-1, width)
    return out


def tensors(cols, meta, offsets, stats):
    cat = [cols[n] + offsets[n] for n, k, w, nb in meta if k == "cat"]
    ids = torch.from_numpy(np.concatenate(cat, axis=1).astype(np.int64))
    num = np.concatenate([(cols[n] - stats[n][0]) / stats[n][1] for n, k, w, nb in meta if k == "num"], axis=1)
    y = torch.from_numpy(cols["label"].reshape(-1).astype(np.float32))
    return ids, torch.from_numpy(num.astype(np.float32)), y


class Linear(torch.nn.Module):
    def __init__(self, rows, nnum, pad):
        super().__init__()
        self.table = torch.nn.EmbeddingBag(rows, 1, mode="sum", sparse=False, padding_idx=pad)
        self.dense = torch.nn.Linear(nnum, 1, bias=True)
        torch.nn.init.zeros_(self.table.weight)
        torch.nn.init.zeros_(self.dense.weight)
        torch.nn.init.zeros_(self.dense.bias)

    def forward(self, ids, num):
        return (self.table(ids) + self.dense(num)).squeeze(1)


def main():
    d, epochs, bs, lr = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    meta, norms = [], {}
    for line in open(f"{d}/meta.txt"):
        name, kind, width, nb, norm = line.split()
        meta.append((name, kind, int(width), int(nb)))
        norms[name] = norm
    tr, te = load(d, "train", meta), load(d, "test", meta)
    offsets, rows = {}, 0
    for n, k, w, nb in meta:
        if k == "cat":
            offsets[n] = rows
            rows += nb
    # estc's minmax and zscore statistics (this model has no other numeric normalisation) over the training data
    stats = {}
    for n, k, w, nb in meta:
        if k != "num":
            continue
        x = tr[n]
        stats[n] = (x.min(), x.max() - x.min()) if norms[n] == "minmax" else (x.mean(), x.std())
    # invalid ids (-1, unknown vocabulary) contribute nothing in estc: a zero row
    # kept at zero (padding_idx) plays that part here
    ids, num, y = tensors(tr, meta, offsets, stats)
    tids, tnum, ty = tensors(te, meta, offsets, stats)
    pad = rows
    ids[ids < torch.tensor([offsets[n] for n, k, w, nb in meta if k == "cat"])] = pad
    tids[tids < torch.tensor([offsets[n] for n, k, w, nb in meta if k == "cat"])] = pad
    model = Linear(rows + 1, num.shape[1], pad)
    opt = torch.optim.Adagrad(model.parameters(), lr=lr, initial_accumulator_value=0.1, eps=0.0)
    lossf = torch.nn.BCEWithLogitsLoss()
    n = ids.shape[0]
    batches = [(ids[i:i + bs], num[i:i + bs], y[i:i + bs]) for i in range(0, n, bs)]
    t0 = time.perf_counter()
    for _ in range(epochs):
        for bi, bn, by in batches:
            opt.zero_grad(set_to_none=True)
            loss = lossf(model(bi, bn), by)
            loss.backward()
            opt.step()
    t = time.perf_counter() - t0
    with torch.no_grad():
        p = torch.sigmoid(model(tids, tnum)).numpy()
    yt = ty.numpy()
    acc = float(((p > 0.5) == (yt > 0.5)).mean())
    print(f"{t:.4f} {n * epochs} {acc:.4f} {roc_auc_score(yt, p):.4f}")


main()
