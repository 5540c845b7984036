"""adaptive.OnlineLearner against deep-river, River's HAT, ARF and logistic regression.

The protocol (issue 12):

* Streams: ``online_streams.HELDOUT``, 9 River streams (abrupt, recurring, gradual, incremental
  drift and two stationary controls), seeds 0-2, 10,000 samples each. The defaults of the
  learner were chosen on ``online_streams.TUNING`` only (other generators, seeds 100-101; see
  ``online_tuning.py``); this script reports on the held-out set unless ``--set tuning``.
* Every model runs through River's own ``evaluate.progressive_val_score`` (predict_one, then
  learn_one, one sample at a time), scored by River's Accuracy (MAE for the regression stream),
  overall and over the 2,000 samples after each change point.
* Models: ``ours_default`` (OnlineLearner with its default adaptation), ``ours_static`` (the
  same learner and network without adaptation), ``deep_river`` (deep-river 0.3.4's Classifier /
  Regressor behind River's StandardScaler), River's ``HAT`` and ``ARF`` (n_models=10), and
  ``logreg`` (StandardScaler | LogisticRegression, one-vs-rest for more than two classes;
  LinearRegression for regression). Both torch learners use the same MLP 64-64 with Adam at
  deep-river's default learning rate, on 1 thread.
* Speed: CPU seconds of predict_one + learn_one on the first ``SPEED_N`` samples of one held-out
  stream, 3 interleaved rounds (median), bare deep-river estimator vs ours vs ARF; and our
  learn_many/predict_many in mini-batches.

How deep-river and our learner share one run: deep-river 0.3.4 pins river<0.26 and torch<2.6,
and our learner needs river>=0.26, so deep-river lives in ``.venv-bench`` (``make bench-env``:
river 0.25 and deep-river installed with --no-deps, the same torch build through a .pth file).
This driver (the project's ``.venv``) generates each stream once, pickles it, and asks one
long-lived worker process (``online_deep_river.py`` under ``.venv-bench/bin/python``) to run
deep-river on that file; then it runs the other models itself on the same list. Models run one
after the other, stream by stream, on the same machine, so load affects all of them alike;
throughput is process CPU time (the 2-core machine is shared).

Run: ``make bench-online`` or ``nice .venv/bin/python benchmarks/online_vs_river.py``; ``--n``,
``--seeds``, ``--streams``, ``--models`` shrink it.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import pickle
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from online_report import markdown, targets  # noqa: E402
from online_streams import (  # noqa: E402
    HELDOUT,
    HELDOUT_SEEDS,
    POST,
    TUNING,
    TUNING_SEEDS,
    N,
    Stream,
    mlp,
    run_progressive,
    time_one,
)

# -- hyperparameters (one flat block) --------------------------------------------------------------
HIDDEN = 64  # MLP width (two hidden layers)
LR = 1e-3  # Adam learning rate: deep-river's default, for both torch learners
SPEED_STREAM, SPEED_N, SPEED_ROUNDS = "hyperplane_incremental", 3000, 3
BATCH = 32  # mini-batch of the learn_many / predict_many throughput
MODELS = ("ours_default", "ours_static", "deep_river", "HAT", "ARF", "logreg")
ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
BENCH_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
BEFORE = False  # --before: today's learner (the "before" column of issue 12)


def ours(stream: Stream, n_features: int, seed: int, adapt: bool, fused: bool = True):
    """OnlineLearner on the benchmark's MLP, with its default adaptation (or, with ``--before``,
    the recipe documented before issue 12); ``adapt`` False = the same learner without any
    detector or policy."""
    from adaptive import OnlineLearner

    model = mlp(n_features, HIDDEN, stream.n_classes or 1, seed)
    opt = torch.optim.Adam(model.parameters(), lr=LR, fused=fused and not BEFORE)
    kw = {} if adapt else {"detector": None, "policies": ()}
    if adapt and BEFORE:
        # the layout before issue 10 (the --before run used a checkout of that commit)
        from adaptive import ADWIN  # noqa: I001
        from adaptive.policies import LRBoost, ResetMoments, WindowRetrain

        kw = dict(detector=ADWIN(), signal="error", memory=512,
                  policies=[ResetMoments(), LRBoost(factor=10.0, half_life=1000),
                            WindowRetrain(window=128, epochs=5, batch_size=32, seed=seed)])
    return OnlineLearner(model, opt, task=stream.task, **kw)


def river_model(kind: str, stream: Stream, seed: int):
    from river import forest, linear_model, multiclass, preprocessing, tree

    clf = stream.task == "classification"
    if kind == "HAT":
        return (tree.HoeffdingAdaptiveTreeClassifier(seed=seed) if clf
                else tree.HoeffdingAdaptiveTreeRegressor(seed=seed))
    if kind == "ARF":
        return (forest.ARFClassifier(n_models=10, seed=seed) if clf
                else forest.ARFRegressor(n_models=10, seed=seed))
    if not clf:
        return preprocessing.StandardScaler() | linear_model.LinearRegression()
    lr = linear_model.LogisticRegression()
    return preprocessing.StandardScaler() | (
        lr if stream.n_classes == 2 else multiclass.OneVsRestClassifier(lr))


class DeepRiver:
    """The deep-river worker process (see ``online_deep_river.py``)."""

    def __init__(self):
        if not BENCH_PYTHON.exists():
            raise SystemExit(f"{BENCH_PYTHON} is missing: run `make bench-env` first")
        self.proc = subprocess.Popen(
            [str(BENCH_PYTHON), str(ROOT / "benchmarks" / "online_deep_river.py")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT / "benchmarks")
        self.versions = self._read()

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the deep-river worker died (see its stderr above)")
        return json.loads(line)

    def ask(self, **req) -> dict:
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def summarise(res: dict, changes: list[int]) -> dict:
    scores = np.asarray(res["scores"], dtype=float)
    post = [float(scores[c:c + POST].mean()) for c in changes]
    return {"score": res["metric"], "post_drift_each": post,
            "post_drift": float(np.mean(post)) if post else None,
            "samples_per_cpu_s": len(scores) / res["cpu_s"],
            "samples_per_wall_s": len(scores) / res["wall_s"]}


def one_run(name: str, stream: Stream, n: int, seed: int, models, dr: DeepRiver | None,
            path: pathlib.Path) -> dict:
    items, changes = stream.make(n, seed)
    path.write_bytes(pickle.dumps(items))
    d = len(items[0][0])
    out = {}
    for m in models:
        if m == "deep_river":
            res = dr.ask(op="run", items=str(path), task=stream.task, n_classes=stream.n_classes,
                         seed=seed, lr=LR, hidden=HIDDEN)
        elif m.startswith("ours"):
            ln = ours(stream, d, seed, adapt=m == "ours_default")
            res = run_progressive(ln, items, stream.task)
            res["drifts"] = ln.drifts()
        else:
            res = run_progressive(river_model(m, stream, seed), items, stream.task)
        out[m] = summarise(res, changes)
        if "drifts" in res:
            out[m]["drifts"] = res["drifts"]
    return {"stream": name, "seed": seed, "task": stream.task, "kind": stream.kind,
            "changes": changes, "models": out}


def speed(dr: DeepRiver | None, path: pathlib.Path) -> dict:
    """Median CPU seconds of predict_one + learn_one over SPEED_N samples, rounds interleaved;
    plus our learn_many / predict_many in mini-batches of BATCH."""
    stream = HELDOUT[SPEED_STREAM]
    own = dr is None and BENCH_PYTHON.exists()
    dr = DeepRiver() if own else dr
    items, _ = stream.make(SPEED_N, 0)
    path.write_bytes(pickle.dumps(items))
    d = len(items[0][0])
    times: dict[str, list[float]] = {}
    for _ in range(SPEED_ROUNDS):
        for fused in (True, False):
            tag = "_fused" if fused else ""
            if dr is not None:
                times.setdefault("deep_river" + tag, []).append(dr.ask(
                    op="time", items=str(path), task=stream.task, n_classes=stream.n_classes,
                    seed=0, lr=LR, hidden=HIDDEN, fused=fused)["cpu_s"])
            for m in ("ours_default", "ours_static"):
                times.setdefault(m + tag, []).append(
                    time_one(ours(stream, d, 0, m == "ours_default", fused=fused), items))
        times.setdefault("ARF", []).append(time_one(river_model("ARF", stream, 0), items))
    if own:
        dr.close()
    rate = {m: SPEED_N / statistics.median(t) for m, t in times.items()}
    X = np.array([[x[k] for k in x] for x, _ in items], dtype=np.float32)
    y = np.array([int(v) for _, v in items])
    for m in ("ours_default", "ours_static"):
        ln = ours(stream, d, 0, m == "ours_default")
        ln.learn_many(X[:BATCH], y[:BATCH])  # first sight (feature names, outputs) untimed
        cpu = time.process_time()
        for s in range(BATCH, SPEED_N, BATCH):
            ln.predict_many(X[s:s + BATCH])
            ln.learn_many(X[s:s + BATCH], y[s:s + BATCH])
        rate[m + f"_many{BATCH}"] = (SPEED_N - BATCH) / (time.process_time() - cpu)
    return {"stream": SPEED_STREAM, "n": SPEED_N, "rounds": SPEED_ROUNDS,
            "cpu_s": times, "samples_per_cpu_s": rate}


def label_free(seed: int, n_train: int = 6000, n_shift: int = 4000) -> dict:
    """Covariate shift (per-feature gain and offset) on a trained classifier's inputs, labels
    withheld after the shift; a Fleet of Page-Hinkley tests on the features triggers BatchNorm
    refresh or TENT. Accuracy on the shifted inputs after the first 1,000."""
    from river.datasets import synth

    from adaptive import Fleet, OnlineLearner, PageHinkley
    from adaptive.online.policies import TENT, BNRefresh

    items = list(synth.Hyperplane(seed=seed, n_features=10, noise_percentage=0.0)
                 .take(n_train + n_shift))
    X = np.array([[x[k] for k in x] for x, _ in items], dtype=np.float32)
    y = np.array([int(v) for _, v in items])
    rng = np.random.default_rng(seed)
    gain = rng.uniform(0.4, 2.5, X.shape[1]).astype(np.float32)
    offset = rng.uniform(-0.5, 0.5, X.shape[1]).astype(np.float32)
    Xs, ys = X[n_train:] * gain + offset, y[n_train:]
    accs = {}
    for name in ("no_adaptation", "bn_refresh", "tent"):
        torch.manual_seed(seed)
        model = torch.nn.Sequential(torch.nn.BatchNorm1d(10), mlp(10, HIDDEN, 2, seed))
        pol = {"no_adaptation": [], "bn_refresh": [BNRefresh(n_inputs=512)],
               "tent": [TENT(n_inputs=512, steps=3, lr=1e-3, seed=seed)]}[name]
        ln = OnlineLearner(model, torch.optim.Adam(model.parameters(), lr=2e-3), policies=pol,
                           memory=512, feature_monitor=Fleet(PageHinkley(threshold=25.0), 10),
                           detector=None)
        for _ in range(2):
            for s in range(0, n_train, BATCH):
                ln.learn_many(X[s:s + BATCH], y[s:s + BATCH])
        ln.feature_monitor.reset()
        if name == "no_adaptation":
            accs["clean"] = float((ln.predict_many(X[n_train - 2000:n_train])
                                   == y[n_train - 2000:n_train]).mean())
        hits = []
        for s in range(0, n_shift, BATCH):
            hits.extend(ln.predict_many(Xs[s:s + BATCH]) == ys[s:s + BATCH])
            ln.observe_many(Xs[s:s + BATCH])
        accs[name] = float(np.mean(hits[1000:]))
    cost = accs["clean"] - accs["no_adaptation"]
    for name in ("bn_refresh", "tent"):
        accs[name + "_recovered_fraction"] = ((accs[name] - accs["no_adaptation"]) / cost
                                              if cost > 0 else float("nan"))
    return accs


def collect(args: argparse.Namespace) -> dict:
    """Run the streams, the speed part and the label-free part; the results document."""
    streams = HELDOUT if args.set == "heldout" else TUNING
    seeds = args.seeds or list(HELDOUT_SEEDS if args.set == "heldout" else TUNING_SEEDS)
    start = time.perf_counter()
    dr = DeepRiver() if "deep_river" in args.models else None
    runs, sp = [], None
    partial = pathlib.Path(args.out).with_suffix(".partial.jsonl")  # one line per finished run
    partial.write_text("")
    names = [] if args.only else args.streams or list(streams)
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "items.pkl"
        for name in names:
            for seed in seeds:
                r = one_run(name, streams[name], args.n, seed, args.models, dr, path)
                runs.append(r)
                with partial.open("a") as f:
                    f.write(json.dumps(r) + "\n")
                print(name, seed, {m: round(v["score"], 4) for m, v in r["models"].items()},
                      flush=True)
        if not args.no_speed and args.only != "label-free":
            sp = speed(dr, path)
            print("speed", {m: round(v) for m, v in sp["samples_per_cpu_s"].items()}, flush=True)
    if dr is not None:
        dr.close()
    lf = [] if args.no_label_free or args.only == "speed" else [label_free(s) for s in seeds]
    import river

    partial.unlink()
    return {"set": args.set, "n": args.n, "seeds": seeds, "post_drift_window": POST, "lr": LR,
            "hidden": HIDDEN, "runs": runs, "speed": sp, "label_free": lf,
            "versions": {"torch": torch.__version__, "river": river.__version__,
                         "python": platform.python_version(),
                         "deep_river_worker": None if dr is None else dr.versions},
            "hardware": f"{platform.machine()} CPU ({platform.processor() or 'unknown'}), "
                        "torch threads 1, 2 cores shared with the team (loaded)",
            "seconds": time.perf_counter() - start}


def merge(files: list[str]) -> dict:
    """One document from several (e.g. one per seed, run side by side): runs and label-free
    parts joined, the first speed part kept."""
    docs = [json.loads(pathlib.Path(f).read_text()) for f in files if not f.endswith(".jsonl")]
    for f in files:  # the runs a part finished so far (its .partial.jsonl)
        if f.endswith(".jsonl"):
            lines = pathlib.Path(f).read_text().splitlines()
            docs.append({"runs": [json.loads(x) for x in lines if x], "label_free": [],
                         "seeds": [], "speed": None, "seconds": 0.0})
    doc = dict(docs[0])
    doc["runs"] = [r for d in docs for r in d["runs"]]
    doc["label_free"] = [a for d in docs for a in d["label_free"]]
    doc["seeds"] = sorted({r["seed"] for r in doc["runs"]})
    doc["speed"] = next((d["speed"] for d in docs if d["speed"]), None)
    doc["seconds"] = max(d["seconds"] for d in docs)
    doc["parts"] = files
    return doc


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", choices=("heldout", "tuning"), default="heldout")
    ap.add_argument("--n", type=int, default=N)
    ap.add_argument("--seeds", type=int, nargs="+")
    ap.add_argument("--streams", nargs="+")
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--no-label-free", action="store_true")
    ap.add_argument("--before", action="store_true",
                    help="ours_default = the adaptive recipe documented before issue 12")
    ap.add_argument("--only", choices=("speed", "label-free"),
                    help="skip the streams: only the speed or the label-free part")
    ap.add_argument("--merge", nargs="+", metavar="JSON",
                    help="join earlier outputs (one per seed, say) into --out")
    ap.add_argument("--out", default=str(RESULTS / "online_vs_river"))
    args = ap.parse_args(argv)
    global BEFORE
    BEFORE = args.before
    torch.set_num_threads(1)
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = merge(args.merge) if args.merge else collect(args)
    doc["targets"] = targets(doc["runs"], doc["speed"])
    out.with_suffix(".json").write_text(json.dumps(doc, indent=1))
    out.with_suffix(".md").write_text(markdown(doc))
    print(markdown(doc))


if __name__ == "__main__":
    main()
