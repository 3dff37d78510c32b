#!/usr/bin/env python3
"""Training speed right after a cold start (tiered compilation, B5).

For each model, trains `--epochs $EPOCHS` (default 3) from an empty model_dir and an empty
object cache with each estc binary given (e.g. the previous build and this
one), RUNS times interleaved, and reports medians of: examples trained by
0.5 s, 1 s and 2 s after the process started (from the timestamps of the
"step N:" log lines, so compile time counts), the whole run's wall time and
its CPU time (user+sys).

  /usr/bin/python3 bench/first_seconds.py RUNS LABEL=BINARY[:ENV=VALUE...] ... -- MODEL.est ...
"""
import os, re, resource, shutil, statistics, subprocess, sys, tempfile, time

def run(binary, env, model, tmp):
    md, cache = os.path.join(tmp, "md"), os.path.join(tmp, "cache")
    for d in (md, cache):
        shutil.rmtree(d, ignore_errors=True)
    e = dict(os.environ, ESTC_CACHE_DIR=cache, OPENBLAS_NUM_THREADS="1", **env)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    p = subprocess.Popen([binary, "train", model, "--epochs", os.environ.get("EPOCHS", "3"), "--model-dir", md, "--no-progress",
                          "--log-step-count-steps", "20"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, env=e)
    steps = []                       # (seconds since start, step)
    final = None
    for line in p.stdout:
        m = re.match(r"step (\d+): ", line)
        if m:
            steps.append((time.monotonic() - t0, int(m.group(1))))
        m = re.match(r"trained (\d+) steps \((\d+) examples\)", line)
        if m:
            final = (int(m.group(1)), int(m.group(2)))
    p.wait()
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if p.returncode != 0 or not final:
        sys.exit(f"{binary} train {model} failed")
    per_step = final[1] / final[0]
    def by(t):
        done = [s for (ts, s) in steps if ts <= t]
        return (done[-1] if done else 0) * per_step
    return {"0.5 s": by(0.5), "1 s": by(1.0), "2 s": by(2.0), "wall s": wall, "cpu s": cpu}

def main():
    args = sys.argv[1:]
    runs = int(args.pop(0))
    cut = args.index("--")
    variants, models = args[:cut], args[cut + 1:]
    parsed = []
    for v in variants:
        label, rest = v.split("=", 1)
        parts = rest.split(":")
        parsed.append((label, parts[0], dict(kv.split("=", 1) for kv in parts[1:])))
    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(runs):
            for model in models:
                for label, binary, env in parsed:
                    r = run(binary, env, model, tmp)
                    for k, v in r.items():
                        res.setdefault((model, label), {}).setdefault(k, []).append(v)
    keys = ["0.5 s", "1 s", "2 s", "wall s", "cpu s"]
    print(f"median of {runs} runs; examples trained by N seconds after start; load average "
          f"{' '.join(open('/proc/loadavg').read().split()[:3])}")
    print(f"{'model':34} {'variant':10}" + "".join(f"{k:>10}" for k in keys))
    for model in models:
        for label, _, _ in parsed:
            r = res[(model, label)]
            print(f"{model:34} {label:10}" + "".join(
                f"{statistics.median(r[k]):10.2f}" if k in ("wall s", "cpu s") else f"{statistics.median(r[k]):10.0f}"
                for k in keys))

main()
