"""deep-river 0.3.4 worker of ``online_vs_river.py``; runs in ``.venv-bench`` (``make bench-env``).

deep-river pins river<0.26 and torch<2.6, so it cannot share the project's environment. The
driver starts this script once, as a subprocess under ``.venv-bench/bin/python`` (river 0.25,
the project's torch through a .pth file), and sends it one JSON request per line on stdin:

* ``{"op": "run", "items": path, "task": ..., "n_classes": ..., "seed": ..., "lr": ...,
  "hidden": ...}``: the pickled stream at ``path`` through River's ``progressive_val_score``
  with ``StandardScaler() | deep-river`` (as a River user would run it);
* ``{"op": "time", "items": path, ...}``: CPU seconds of predict_one + learn_one of the bare
  deep-river estimator (no scaler), for the speed ratio; ``"fused": true`` gives it torch's
  fused Adam (as our learner uses in the benchmark) instead of its default ``"adam"``;
* ``{"op": "quit"}``.

It answers one JSON line per request (``scores`` as a list). Nothing here imports ``adaptive``.
"""

from __future__ import annotations

import json
import pickle
import sys

import torch
from online_streams import mlp, run_progressive, time_one


def estimator(req: dict, n_features: int):
    import functools

    from deep_river.classification import Classifier
    from deep_river.regression import Regressor

    adam = functools.partial(torch.optim.Adam, fused=True) if req.get("fused") else "adam"
    if req["task"] == "classification":
        module = mlp(n_features, req["hidden"], req["n_classes"], req["seed"])
        return Classifier(module=module, loss_fn="cross_entropy", optimizer_fn=adam,
                          lr=req["lr"], seed=req["seed"])
    module = mlp(n_features, req["hidden"], 1, req["seed"])
    return Regressor(module=module, loss_fn="mse", optimizer_fn=adam, lr=req["lr"],
                     seed=req["seed"])


def handle(req: dict) -> dict:
    from river import preprocessing

    with open(req["items"], "rb") as f:
        items = pickle.load(f)
    est = estimator(req, len(items[0][0]))
    if req["op"] == "time":
        return {"cpu_s": time_one(est, items)}
    res = run_progressive(preprocessing.StandardScaler() | est, items, req["task"])
    return {**res, "scores": res["scores"].tolist()}


def main() -> None:
    from importlib.metadata import version

    torch.set_num_threads(1)
    import deep_river  # noqa: F401 - fail at start, not at the first request

    print(json.dumps({"ready": True, "river": version("river"), "torch": torch.__version__,
                      "deep_river": version("deep-river")}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        if req["op"] == "quit":
            break
        print(json.dumps(handle(req)), flush=True)


if __name__ == "__main__":
    main()
