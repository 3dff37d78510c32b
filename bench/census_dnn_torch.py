#!/usr/bin/env python3
"""PyTorch peer for B2 (bench/census_dnn.sh): the census DNN of
bench/models/census_dnn_b2.est on estc's own encoded examples (written by
`estc-bench-loop --dump DIR`). The same input layer (numeric features
normalised as estc does, indicator columns one-hot, 8-wide embeddings for the
two hashed columns), hidden layers, ReLU, initialisers (Glorot-uniform
kernels, zero biases, truncated-normal embeddings with std 1/sqrt(8)), sigmoid
cross-entropy and Adagrad (accumulator 0.1). One thread, the same batch size,
epochs and example order. The non-trainable part of the input layer (numbers
and one-hot columns) is built once before timing: the peer's best case.

    census_dnn_torch.py DIR EPOCHS BATCH LR HIDDEN (e.g. 256,128,64) EMBEDDED (e.g. occupation,country)

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
    for name, kind, width, nb, norm in meta:
        dt = np.float32 if kind == "num" else np.int32
        out[name] = np.fromfile(f"{d}/{split}/{name}.bin", dtype=dt).reshape(-1, width)
    return out


def dense_part(cols, meta, stats, embedded):
    """numbers (normalised) then one-hot blocks, in the model's column order"""
    parts = []
    for name, kind, width, nb, norm in meta:
        if kind == "num":
            x = cols[name]
            if norm == "zscore":
                x = (x - stats[name][0]) / stats[name][1]
            elif norm == "expr":
                x = np.log(x + 1)      # the only expression this model uses: log(x + 1)
            parts.append(x)
    for name, kind, width, nb, norm in meta:
        if kind == "cat" and name not in embedded:
            ids = cols[name][:, 0]
            oh = np.zeros((len(ids), nb), np.float32)
            ok = ids >= 0
            oh[np.nonzero(ok)[0], ids[ok]] = 1
            parts.append(oh)
    return torch.from_numpy(np.concatenate(parts, axis=1).astype(np.float32))


def emb_ids(cols, name, nb):
    ids = cols[name][:, 0].astype(np.int64)
    ids[ids < 0] = nb              # the padding row: zeros, as estc skips an invalid id
    return torch.from_numpy(ids)


class DNN(torch.nn.Module):
    def __init__(self, ndense, tables, hidden):
        super().__init__()
        self.emb = torch.nn.ModuleList()
        for nb in tables:
            e = torch.nn.Embedding(nb + 1, 8, padding_idx=nb)
            with torch.no_grad():
                torch.nn.init.trunc_normal_(e.weight, std=1 / np.sqrt(8), a=-2 / np.sqrt(8), b=2 / np.sqrt(8))
                e.weight[nb].zero_()
            self.emb.append(e)
        dims = [ndense + 8 * len(tables)] + hidden + [1]
        self.layers = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in zip(dims, dims[1:]))
        for l in self.layers:
            torch.nn.init.xavier_uniform_(l.weight)
            torch.nn.init.zeros_(l.bias)

    def forward(self, dense, ids):
        x = torch.cat([dense] + [e(i) for e, i in zip(self.emb, ids)], dim=1)
        for l in self.layers[:-1]:
            x = torch.relu(l(x))
        return self.layers[-1](x).squeeze(1)


def main():
    d, epochs, bs, lr = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    hidden = [int(h) for h in sys.argv[5].split(",")]
    embedded = sys.argv[6].split(",")
    meta = [tuple(l.split()) for l in open(f"{d}/meta.txt")]
    meta = [(n, k, int(w), int(nb), norm) for n, k, w, nb, norm in meta]
    tr, te = load(d, "train", meta), load(d, "test", meta)
    stats = {n: (tr[n].mean(), tr[n].std()) for n, k, w, nb, norm in meta if norm == "zscore"}
    nbs = {n: nb for n, k, w, nb, norm in meta}
    dense, tdense = dense_part(tr, meta, stats, embedded), dense_part(te, meta, stats, embedded)
    ids = [emb_ids(tr, n, nbs[n]) for n in embedded]
    tids = [emb_ids(te, n, nbs[n]) for n in embedded]
    y = torch.from_numpy(tr["label"].reshape(-1).astype(np.float32))
    yt = te["label"].reshape(-1)
    model = DNN(dense.shape[1], [nbs[n] for n in embedded], hidden)
    opt = torch.optim.Adagrad(model.parameters(), lr=lr, initial_accumulator_value=0.1, eps=0.0)
    lossf = torch.nn.BCEWithLogitsLoss()
    n = dense.shape[0]
    batches = [(dense[i:i + bs], [t[i:i + bs] for t in ids], y[i:i + bs]) for i in range(0, n, bs)]
    t0 = time.perf_counter()
    for _ in range(epochs):
        for bd, bi, by in batches:
            opt.zero_grad(set_to_none=True)
            loss = lossf(model(bd, bi), by)
            loss.backward()
            opt.step()
    t = time.perf_counter() - t0
    with torch.no_grad():
        p = torch.sigmoid(model(tdense, tids)).numpy()
    acc = float(((p > 0.5) == (yt > 0.5)).mean())
    print(f"{t:.4f} {n * epochs} {acc:.4f} {roc_auc_score(yt, p):.4f}")


main()
