#!/usr/bin/env python3
"""PyTorch peer for B3 (bench/mlp_dense.sh): the MLP of the generated
mlp.est (bench/gen_dense.py) on estc's own encoded examples
(`estc-bench-loop --dump DIR`): the numeric features side by side, hidden
layers with ReLU, Glorot-uniform kernels and zero biases, softmax
cross-entropy, Adagrad (accumulator 0.1). Data in memory as one tensor, the
same batch size, epochs and example order. PyTorch's own threads (its
intra-op pool) are B3_TORCH_THREADS (default 1); OpenBLAS's, which run its
matrix products, come from OPENBLAS_NUM_THREADS as usual.

    mlp_dense_torch.py DIR EPOCHS BATCH LR HIDDEN (e.g. 1024,1024)

Prints one line: train_seconds examples accuracy
"""
import os, sys, time
import numpy as np
import torch

torch.set_num_threads(int(os.environ.get("B3_TORCH_THREADS", "1")))
torch.manual_seed(42)


def load(d, split, meta):
    xs = [np.fromfile(f"{d}/{split}/{n}.bin", dtype=np.float32).reshape(-1, 1) for n, k, *_ in meta if k == "num"]
    y = np.fromfile(f"{d}/{split}/label.bin", dtype=np.int32)
    return torch.from_numpy(np.concatenate(xs, axis=1)), torch.from_numpy(y.astype(np.int64))


def main():
    d, epochs, bs, lr = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    hidden = [int(h) for h in sys.argv[5].split(",")]
    meta = [tuple(l.split()) for l in open(f"{d}/meta.txt")]
    ncls = int([m for m in meta if m[1] == "label"][0][3])
    x, y = load(d, "train", meta)
    xt, yt = load(d, "test", meta)
    dims = [x.shape[1]] + hidden + [ncls]
    layers = []
    for a, b in zip(dims, dims[1:]):
        l = torch.nn.Linear(a, b)
        torch.nn.init.xavier_uniform_(l.weight)
        torch.nn.init.zeros_(l.bias)
        layers += [l, torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    opt = torch.optim.Adagrad(model.parameters(), lr=lr, initial_accumulator_value=0.1, eps=0.0)
    lossf = torch.nn.CrossEntropyLoss()
    n = x.shape[0]
    batches = [(x[i:i + bs], y[i:i + bs]) for i in range(0, n, bs)]
    t0 = time.perf_counter()
    for _ in range(epochs):
        for bx, by in batches:
            opt.zero_grad(set_to_none=True)
            loss = lossf(model(bx), by)
            loss.backward()
            opt.step()
    t = time.perf_counter() - t0
    with torch.no_grad():
        acc = float((model(xt).argmax(1) == yt).float().mean())
    print(f"{t:.4f} {n * epochs} {acc:.4f}")


main()
