"""The public boundary's annotations: every public callable annotated, ``Any`` only where meant.

``make typecheck`` runs this after mypy. It walks every name of the public modules' ``__all__``
(the list the API reference is checked against), and for each function, class constructor and
public method or property reads the annotations as written. It reports

- a parameter or return value without an annotation;
- a bare ``Any`` (or ``Any`` inside another type, such as ``list[Any]``) where it is not one of
  the accepted uses below.

Accepted uses of ``Any``: ``**kwargs: Any`` and ``*args: Any`` (forwarded options);
``dict[str, Any]`` and lists of them (state dicts, JSON records, configurations: heterogeneous
values by nature); and the parameters listed in ``MEANT_NAMES`` and ``MEANT``, each with the
reason. Everything else is a
finding, and the script exits 1 when there is one.

Usage: ``python scripts/public_types.py [--list]`` (``--list``: print the accepted ``Any`` too).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import re
import sys
from collections.abc import Callable, Iterator

MODULES = (
    "traincore",
    "robust",
    "adaptive",
    "adaptive.drift",
    "adaptive.calibration",
    "adaptive.online",
    "adaptive.online.policies",
    "adaptive.monitor",
    "adaptive.spark",
)
# parameters named so that are Any wherever they appear, and why
MEANT_NAMES = {
    "batch": "whatever the user's DataLoader yields (an objective checks what it needs)",
    "timestamp": "the user's own timestamp value, passed through to the alert",
    "timestamps": "the user's own timestamp values, passed through to the alerts",
}
# qualified name "module.Class.method:parameter" (or ":return") -> why Any is the type
MEANT = {
    "traincore.objective.split_batch:batch": "validated here: the function's job",
    "traincore.checkpoint.save_checkpoint:extra": "any weights_only-safe value the user adds",
    "traincore.updater.Updater.validate_state_dict:state": "validated here: the method's job",
    "traincore.fit.History.column:return": "a history column holds whatever metric it holds",
    "robust.torchattacks_adapter.TorchattacksAdapter.__init__:factory":
        "builds a torchattacks attack; torchattacks has no type information",
    "robust.torchattacks_adapter.TorchattacksAdapter.attack_for:return":
        "a torchattacks attack; torchattacks has no type information",
    "robust.guard.OverfitGuard.__init__:monitor":
        "duck-typed: River's detectors, adaptive's, or ThresholdMonitor (update, drift_detected)",
    "adaptive.online.prequential_eval.PrequentialResult.plot:ax":
        "a matplotlib Axes or None; the body narrows it through a flag that mypy cannot follow",
    "adaptive.online.prequential_eval.prequential:stream":
        "(X, y) arrays, or (x, y) pairs whose x is a River dict, an array or a tensor, y a label",
    "adaptive.online.prequential_eval.prequential:learner":
        "duck-typed: OnlineLearner or any River estimator (predict_one, learn_one)",
}
ACCEPTED = re.compile(
    r"^(dict\[str, Any\]|list\[dict\[str, Any\]\])( \| list\[dict\[str, Any\]\])?( \| None)?$"
)


def public_callables() -> Iterator[tuple[str, Callable]]:
    """(qualified name, function) of every public function, constructor, method, property."""
    seen: set[int] = set()
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if id(obj) in seen or not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            seen.add(id(obj))
            qual = f"{obj.__module__}.{obj.__qualname__}"
            if inspect.isfunction(obj):
                yield qual, obj
                continue
            if "__init__" in vars(obj):
                yield f"{qual}.__init__", obj.__init__
            for attr, value in vars(obj).items():
                if attr.startswith("_"):
                    continue
                if isinstance(value, property):
                    value = value.fget
                elif isinstance(value, (staticmethod, classmethod)):
                    value = value.__func__
                if inspect.isfunction(value):
                    yield f"{qual}.{attr}", value


def findings(qual: str, fn: Callable) -> Iterator[tuple[str, str, bool]]:
    """(place, annotation or "missing", accepted?) for each parameter and the return value."""
    sig = inspect.signature(fn)
    params = list(sig.parameters.values())
    if params and params[0].name in ("self", "cls"):
        params = params[1:]
    for p in params:
        place = f"{qual}:{p.name}"
        text = "missing" if p.annotation is inspect.Parameter.empty else str(p.annotation)
        star = p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        if text == "missing" or "Any" in text:
            meant = place in MEANT or (p.name in MEANT_NAMES and text == "Any")
            yield place, text, (star and text == "Any") or bool(ACCEPTED.match(text)) or meant
    if not qual.endswith("__init__"):
        text = sig.return_annotation
        text = "missing" if text is inspect.Signature.empty else str(text)
        place = f"{qual}:return"
        if text == "missing" or "Any" in text:
            yield place, text, bool(ACCEPTED.match(text)) or place in MEANT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="print the accepted uses too")
    args = parser.parse_args(argv)
    bad, accepted, n = [], [], 0
    for qual, fn in public_callables():
        n += 1
        for place, text, ok in findings(qual, fn):
            (accepted if ok else bad).append(f"{place}: {text}")
    if args.list:
        print("\n".join(f"accepted  {a}" for a in accepted))
    print("\n".join(f"FINDING   {b}" for b in bad))
    print(f"public-types: {n} public callables, {len(accepted)} accepted uses of Any, "
          f"{len(bad)} findings")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
