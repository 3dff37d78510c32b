"""The PyTorch peer of bench/predict.sh: the census models of estc, rebuilt in
PyTorch with the SAME weights (read from the newest checkpoint of the model_dir),
timed in eager mode and as TorchScript (one after the other, in one process).

    python3 predict_torch.py linear|dnn256 --model-dir DIR --data adult.test
        [--mode eager|script|both] [--calls N] [--batch B] [--check ESTC_PREDICT.csv]

The peer's best case: the feature columns are encoded once, up front, in
Python (vocabulary positions, out-of-vocabulary buckets, XXH64 hashes,
bucketizing, crosses, normalisation: the rules of runtime/reader.c), so the
timed calls see only tensors of ids and normalised floats, with no string
work. One thread, torch.inference_mode().

--check compares the probability of class 1 of every row with what
`estc predict --format csv` wrote and fails above 1e-5.

Prints one line per mode like the C programs (bench/predict_common.h):
  result model=M path=P median_ns=.. p99_ns=.. timer_ns=.. calls=.. batch=.. rows_per_s=..
"""
import argparse
import json
import os
import struct
import sys
import time

import numpy as np
import torch
import xxhash

MISSING = "?"
COLUMNS = ["age", "workclass", "fnlwgt", "education", "education_num", "marital_status",
           "occupation", "relationship", "race", "gender", "capital_gain", "capital_loss",
           "hours_per_week", "native_country", "income_bracket"]
HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "examples", "census", "data")

# The vocabularies of examples/census/linear.est and bench/models/census_dnn256.est.
MARITAL = ["Married-civ-spouse", "Divorced", "Married-spouse-absent", "Never-married", "Separated",
           "Married-AF-spouse", "Widowed"]
RELATION = ["Husband", "Not-in-family", "Wife", "Own-child", "Unmarried", "Other-relative"]
WORKCLASS = ["Self-emp-not-inc", "Private", "State-gov", "Federal-gov", "Local-gov", "Self-emp-inc",
             "Without-pay", "Never-worked"]
GENDER = ["Male", "Female"]
AGE_BOUNDS = [18, 25, 30, 35, 40, 45, 50, 55, 60, 65]
GAIN_BOUNDS = [1, 3000, 5000, 7000, 10000]


def education_vocab():
    with open(os.path.join(DATA, "education.vocab")) as f:
        return [line.strip() for line in f if line.strip()]


# ---- the checkpoint ------------------------------------------------------------------

def newest_checkpoint(model_dir):
    """model-STEP.safetensors named by model_dir/checkpoint, else the highest step."""
    index = os.path.join(model_dir, "checkpoint")
    if os.path.exists(index):
        for line in open(index):
            if line.startswith("latest:"):
                return os.path.join(model_dir, line.split(":", 1)[1].strip())
    steps = [int(f[6:-12]) for f in os.listdir(model_dir)
             if f.startswith("model-") and f.endswith(".safetensors")]
    if not steps:
        sys.exit("predict_torch: no checkpoint in " + model_dir)
    return os.path.join(model_dir, "model-%d.safetensors" % max(steps))


def read_safetensors(path):
    """{name: float32 array}: an 8-byte little-endian header length, a JSON
    header (dtype, shape, data_offsets per tensor), then the raw data."""
    with open(path, "rb") as f:
        blob = f.read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    base = 8 + n
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        if t["dtype"] != "F32":
            sys.exit("predict_torch: %s: unexpected dtype %s" % (name, t["dtype"]))
        lo, hi = t["data_offsets"]
        out[name] = np.frombuffer(blob[base + lo:base + hi], dtype="<f4").reshape(t["shape"]).copy()
    return out


# ---- feature columns, as runtime/reader.c encodes them -------------------------------

def read_rows(path, skip=1):
    rows = []
    with open(path) as f:
        for i, line in enumerate(f):
            if i < skip or not line.strip():
                continue
            fields = [s.strip() for s in line.rstrip("\r\n").split(", ")]
            if len(fields) != len(COLUMNS):
                sys.exit("%s:%d: expected %d fields" % (path, i + 1, len(COLUMNS)))
            rows.append(dict(zip(COLUMNS, [None if s in ("", MISSING) else s for s in fields])))
    return rows


def xxh64(data):
    return xxhash.xxh64_intdigest(data, seed=0)


def vocab_id(s, vocab, num_oov=0):
    """Position in the vocabulary; unknown: an XXH64 out-of-vocabulary bucket,
    else no id (-1). Missing: no id."""
    if s is None:
        return -1
    if s in vocab:
        return vocab.index(s)
    return len(vocab) + xxh64(s.encode()) % num_oov if num_oov else -1


def hashed(s, buckets):
    """(id, key): a hashed input's cross key is its full hash."""
    if s is None:
        return -1, None
    h = xxh64(s.encode())
    return h % buckets, h


def bucket(x, bounds):
    return sum(1 for b in bounds if b <= x)


def crossed(keys, buckets):
    """XXH64 over the inputs' uint64 keys (little-endian), % buckets; -1 if an input has no id."""
    if any(k is None or k < 0 for k in keys):
        return -1
    return xxh64(struct.pack("<%dQ" % len(keys), *keys)) % buckets


def f32(x):
    return np.float32(x)


def zscore(x, w, name):
    return (f32(x) - w[name + "/mean"][0]) / w[name + "/std"][0]


def minmax(x, w, name):
    lo, hi = w[name + "/min"][0], w[name + "/max"][0]
    return (f32(x) - lo) / (hi - lo)


# ---- census linear (examples/census/linear.est) ---------------------------------------

LINEAR_CATEGORICAL = [("age_b", 11), ("education", 16), ("marital", 7), ("relation", 6),
                      ("workclass", 9), ("occupation", 1000), ("country", 1000), ("gain_b", 6),
                      ("edu_occ", 1000), ("age_edu_occ", 1000)]


def encode_linear(rows, w):
    """ids [N, 10] into one table holding the ten weight tables end to end (a
    missing id points at a zero row past them), dense [N, 2]: loss, hours."""
    edu = education_vocab()
    offsets, total = [], 0
    for _, n in LINEAR_CATEGORICAL:
        offsets.append(total)
        total += n
    ids = np.empty((len(rows), len(LINEAR_CATEGORICAL)), dtype=np.int64)
    dense = np.empty((len(rows), 2), dtype=np.float32)
    for i, r in enumerate(rows):
        age, gain = float(r["age"]), float(r["capital_gain"])
        age_b = bucket(age, AGE_BOUNDS)
        e = vocab_id(r["education"], edu)
        occ, occ_key = hashed(r["occupation"], 1000)
        country, _ = hashed(r["native_country"], 1000)
        row = [age_b, e, vocab_id(r["marital_status"], MARITAL), vocab_id(r["relationship"], RELATION),
               vocab_id(r["workclass"], WORKCLASS, 1), occ, country, bucket(gain, GAIN_BOUNDS),
               crossed([e, occ_key], 1000), crossed([age_b, e, occ_key], 1000)]
        ids[i] = [off + v if v >= 0 else total for off, v in zip(offsets, row)]
        dense[i] = [minmax(r["capital_loss"], w, "loss"), zscore(r["hours_per_week"], w, "hours")]
    return [torch.from_numpy(ids), torch.from_numpy(dense)]


class Linear(torch.nn.Module):
    """logit = the sum of the ids' weights + dense @ weights + bias."""

    def __init__(self, w):
        super().__init__()
        tables = [w["linear/%s/weights" % name] for name, _ in LINEAR_CATEGORICAL]
        table = np.concatenate(tables + [np.zeros((1, 1), np.float32)])
        self.table = torch.nn.Embedding.from_pretrained(torch.from_numpy(table))
        self.dense = torch.nn.Linear(2, 1)
        with torch.no_grad():
            self.dense.weight.copy_(torch.from_numpy(
                np.concatenate([w["linear/loss/weights"], w["linear/hours/weights"]]).T))
            self.dense.bias.copy_(torch.from_numpy(w["linear/bias"]))

    def forward(self, ids, dense):
        return torch.sigmoid(self.table(ids).sum(1) + self.dense(dense))


# ---- census DNN 256-128-64 (bench/models/census_dnn256.est) ----------------------------

def encode_dnn(rows, w):
    """dense [N, 45]: age, education_num, gain, loss, hours normalised, then the
    indicator columns one-hot (workclass 9, education 16, marital 7, relation 6,
    gender 2); ids [N, 2]: occupation, country (a missing id: row 1000, zeros)."""
    edu = education_vocab()
    dense = np.zeros((len(rows), 45), dtype=np.float32)
    ids = np.empty((len(rows), 2), dtype=np.int64)
    for i, r in enumerate(rows):
        dense[i, 0] = zscore(r["age"], w, "age")
        dense[i, 1] = zscore(r["education_num"], w, "education_num")
        dense[i, 2] = np.log(f32(r["capital_gain"]) + f32(1))
        dense[i, 3] = np.log(f32(r["capital_loss"]) + f32(1))
        dense[i, 4] = zscore(r["hours_per_week"], w, "hours")
        at = 5
        for v, n in [(vocab_id(r["workclass"], WORKCLASS, 1), 9), (vocab_id(r["education"], edu), 16),
                     (vocab_id(r["marital_status"], MARITAL), 7), (vocab_id(r["relationship"], RELATION), 6),
                     (vocab_id(r["gender"], GENDER), 2)]:
            if v >= 0:
                dense[i, at + v] = 1
            at += n
        ids[i] = [v if v >= 0 else 1000 for v in
                  (hashed(r["occupation"], 1000)[0], hashed(r["native_country"], 1000)[0])]
    return [torch.from_numpy(dense), torch.from_numpy(ids)]


class DNN(torch.nn.Module):
    """input layer [dense, occupation embedding, country embedding] (61), then
    relu(256) relu(128) relu(64), logits, sigmoid."""

    def __init__(self, w):
        super().__init__()

        def embedding(name):
            t = np.concatenate([w["dnn/%s_embedding/embedding_weights" % name], np.zeros((1, 8), np.float32)])
            return torch.nn.Embedding.from_pretrained(torch.from_numpy(t))

        def dense(name):
            k, b = w["dnn/%s/kernel" % name], w["dnn/%s/bias" % name]
            layer = torch.nn.Linear(k.shape[0], k.shape[1])
            with torch.no_grad():
                layer.weight.copy_(torch.from_numpy(k.T.copy()))
                layer.bias.copy_(torch.from_numpy(b))
            return layer

        self.occupation, self.country = embedding("occupation"), embedding("country")
        self.h0, self.h1, self.h2 = dense("hiddenlayer_0"), dense("hiddenlayer_1"), dense("hiddenlayer_2")
        self.logits = dense("logits")

    def forward(self, dense, ids):
        x = torch.cat([dense, self.occupation(ids[:, 0]), self.country(ids[:, 1])], 1)
        x = torch.relu(self.h0(x))
        x = torch.relu(self.h1(x))
        x = torch.relu(self.h2(x))
        return torch.sigmoid(self.logits(x))


MODELS = {"linear": (encode_linear, Linear), "dnn256": (encode_dnn, DNN)}


# ---- the runs ------------------------------------------------------------------------

def compile_script(model, inputs):
    """TorchScript at its best: scripted, frozen, optimised for inference."""
    s = torch.jit.freeze(torch.jit.script(model.eval()))
    s = torch.jit.optimize_for_inference(s)
    for _ in range(3):
        s(*inputs)   # the profiling executor specialises on the first calls
    return s


def check(model, inputs, estc_csv):
    with open(estc_csv) as f:
        next(f)
        want = np.array([float(line.split(",")[2].split(";")[1]) for line in f])
    got = model(*inputs).numpy()[:, 0].astype(np.float64)
    if got.shape != want.shape:
        sys.exit("predict_torch: %d rows, estc predict wrote %d" % (len(got), len(want)))
    worst = float(np.max(np.abs(got - want)))
    return worst


def quantile(v, q):
    v = sorted(v)
    return v[int(q * (len(v) - 1) + 0.5)]


def time_paths(model, inputs, calls, batch):
    """(median ns, p99 ns, timer ns, rows/s) of one model: single-row calls, then batches."""
    n = inputs[0].shape[0]
    clock = time.perf_counter_ns
    # single row: one [1, ...] slice per row, made up front; cycle through them
    singles = [[t[i:i + 1] for t in inputs] for i in range(n)]
    for x in singles[:2000]:
        model(*x)
    timer = []
    for _ in range(10000):
        t0 = clock()
        timer.append(clock() - t0)
    timer = quantile(timer, 0.5)
    ns = []
    for c in range(calls):
        x = singles[c % n]
        t0 = clock()
        model(*x)
        ns.append(clock() - t0)

    # batch: whole chunks, cycling, until `calls` rows and 0.2 s
    chunks = [[t[k:k + batch] for t in inputs] for k in range(0, n - batch + 1, batch)]
    for x in chunks:
        model(*x)
    done, k, b0 = 0, 0, clock()
    while True:
        model(*chunks[k])
        k = (k + 1) % len(chunks)
        done += batch
        b1 = clock()
        if done >= calls and b1 - b0 >= 200_000_000:
            break
    return quantile(ns, 0.5) - timer, quantile(ns, 0.99) - timer, timer, done * 1e9 / (b1 - b0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model", choices=sorted(MODELS))
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--mode", choices=["eager", "script", "both"], default="both")
    ap.add_argument("--calls", type=int, default=100000)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--check", metavar="ESTC_PREDICT_CSV")
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    name = "census_" + a.model

    encode, build = MODELS[a.model]
    w = read_safetensors(newest_checkpoint(a.model_dir))
    inputs = encode(read_rows(a.data), w)
    n = inputs[0].shape[0]
    failed = False
    with torch.inference_mode():
        eager = build(w).eval()
        models = {"eager": eager} if a.mode != "script" else {}
        if a.mode != "eager":
            models["script"] = compile_script(eager, [t[:1] for t in inputs])
        for mode, model in models.items():
            if a.check:
                worst = check(model, inputs, a.check)
                print("check model=%s path=torch_%s rows=%d vs_estc=%.3g" % (name, mode, n, worst))
                failed |= not worst <= 1e-5
                continue
            med, p99, timer, rate = time_paths(model, inputs, a.calls, a.batch)
            print("result model=%s path=torch_%s median_ns=%d p99_ns=%d timer_ns=%d calls=%d batch=%d "
                  "rows_per_s=%.0f" % (name, mode, med, p99, timer, a.calls, a.batch, rate), flush=True)
    sys.exit(1 if failed else 0)

if __name__ == "__main__":
    main()
