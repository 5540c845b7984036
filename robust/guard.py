"""Catastrophic-overfitting guard: PGD accuracy each epoch, roll back and fall back on collapse.

Single-step methods (Fast-AT above all) can suddenly lose all robustness to multi-step attacks
within an epoch ("catastrophic overfitting", Wong et al. 2020). :class:`OverfitGuard` wraps any
objective; at the end of every epoch it measures PGD accuracy on a fixed held-out batch and feeds
it to a *monitor* with River's detector interface (``update(x)``, ``drift_detected``). A collapse
is declared when the monitor signals a drift AND the accuracy is below the best seen so far (a
two-sided detector firing on an improvement is not a collapse). On a collapse the guard

1. restores the last good state (model parameters and buffers, optimizer state, updater/scaler
   state) that it kept in memory at the last healthy epoch end;
2. applies the fallback: by default ``objective.fallback()`` (Fast-AT -> N-FGSM at the same eps;
   N-FGSM -> PGD-2 AT; PGD-AT, TRADES, Free-AT: none, restore only), or a callable
   ``objective -> objective`` given as ``fallback``;
3. logs a warning (logger ``robust.guard``) and appends the event to :attr:`OverfitGuard.history`.

The default monitor :class:`ThresholdMonitor` fires when the accuracy is both more than ``drop``
(absolute, 0.15 = 15 points) below the best AND below ``ratio`` (0.5) times the best: the crash
to near zero of catastrophic overfitting satisfies both, while the epoch-to-epoch noise of a
200-image check (a few points) or a 25% -> 12% wobble of a weakly robust model does not (with
"or", such wobbles fired the guard in ``benchmarks/robust_quality.py``'s eps=0.3 probe). Any River
detector (``river.drift.ADWIN()``) or :mod:`adaptive` detector can be passed instead; ``robust``
imports neither.

State: :meth:`OverfitGuard.state_dict` holds the accuracies seen, the history, the number of
fallbacks applied, the last good snapshot and the wrapped objective's state, all as tensors and
plain Python values (loadable with ``torch.load(weights_only=True)``). The monitor's state is
rebuilt on load by replaying the recorded accuracies into a copy of the monitor as it was given
(exact for any deterministic detector, River's included); fallbacks are re-applied the same way.

Examples
--------
>>> m = ThresholdMonitor(drop=0.15, ratio=0.5)
>>> for acc in (0.30, 0.42, 0.45, 0.41, 0.05):
...     m.update(acc)
...     print(acc, m.drift_detected)
0.3 False
0.42 False
0.45 False
0.41 False
0.05 True
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable
from typing import Any

import torch

from robust.threat import check_int
from traincore import Objective, StepOutput, Updater, unwrap

logger = logging.getLogger("robust.guard")

_STATE_VERSION = 1


class ThresholdMonitor:
    """Collapse rule on a stream of accuracies (a large AND relative drop from the best seen),
    with River's detector interface.

    Parameters
    ----------
    drop
        Absolute drop below the best accuracy seen (in [0, 1]; 0 disables this condition).
    ratio
        Relative floor ``ratio * best`` (in [0, 1]; 1 disables this condition).

    A collapse needs both: ``x < best - drop`` and ``x < ratio * best``.
    """

    def __init__(self, drop: float = 0.15, ratio: float = 0.5):
        for name, v in (("drop", drop), ("ratio", ratio)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
                raise ValueError(f"{name}={v!r} must be a number in [0, 1]")
        self.drop = drop
        self.ratio = ratio
        self._reset()

    def _reset(self) -> None:
        self._best = -math.inf
        self._drift = False

    @property
    def drift_detected(self) -> bool:
        return self._drift

    def update(self, x: float) -> None:
        x = float(x)
        if not math.isfinite(x):
            raise ValueError(f"x={x!r} must be a finite accuracy")
        self._drift = self._best > -math.inf and (
            x < self._best - self.drop and x < self.ratio * self._best
        )
        if not self._drift:
            self._best = max(self._best, x)

    def clone(self) -> ThresholdMonitor:
        return ThresholdMonitor(self.drop, self.ratio)

    def __repr__(self) -> str:
        return f"ThresholdMonitor(drop={self.drop!r}, ratio={self.ratio!r})"


def _default_attack(eps: Any, steps: int) -> Callable:
    from robust.pgd import pgd

    def attack(model, x, y, generator):
        return pgd(model, x, y, eps=eps, alpha=2.5 * eps / steps, steps=steps,
                   random_start=True, bn_mode="eval", generator=generator)

    return attack


class OverfitGuard(Objective):
    """Wrap an objective with a per-epoch PGD-accuracy check, rollback and fallback.

    Parameters
    ----------
    objective
        The objective to guard (any :class:`traincore.Objective`; ``eps`` is read from it for
        the default attack).
    eval_batch
        ``(x, y)`` held-out tensors, fixed for the whole run (a few hundred samples).
    monitor
        Object with ``update(x)`` and ``drift_detected`` fed the PGD accuracy (in [0, 1]) once
        per epoch; default :class:`ThresholdMonitor`.
    attack
        Callable ``(model, x, y, generator) -> x_adv`` for the check; default PGD-``steps`` at the
        objective's eps (``alpha = 2.5 eps / steps``, random start).
    steps
        PGD steps of the default attack.
    fallback
        ``"auto"`` (``objective.fallback()``), ``None`` (restore only) or a callable
        ``objective -> objective``.
    seed
        Seed of the attack's random start (the check does not touch the global RNG).
    """

    def __init__(
        self,
        objective: Objective,
        eval_batch: tuple[torch.Tensor, torch.Tensor],
        *,
        monitor: Any = None,
        attack: Callable | None = None,
        steps: int = 10,
        fallback: str | Callable | None = "auto",
        seed: int = 0,
    ):
        if not isinstance(objective, Objective):
            raise TypeError(f"objective must be a traincore.Objective, got {type(objective)}")
        if not (isinstance(eval_batch, (tuple, list)) and len(eval_batch) == 2
                and all(isinstance(t, torch.Tensor) for t in eval_batch)
                and eval_batch[0].shape[0] == eval_batch[1].shape[0] > 0):
            raise ValueError("eval_batch must be a pair (x, y) of tensors with the same, "
                             "non-zero number of rows")
        monitor = ThresholdMonitor() if monitor is None else monitor
        if not (callable(getattr(monitor, "update", None)) and hasattr(monitor, "drift_detected")):
            raise TypeError("monitor must have River's detector interface: update(x) and "
                            f"drift_detected; got {type(monitor).__name__}")
        check_int("steps", steps, 1)
        if not (fallback is None or fallback == "auto" or callable(fallback)):
            raise ValueError(f"fallback={fallback!r} must be 'auto', None or a callable")
        if attack is None and not hasattr(objective, "eps") \
                and not hasattr(getattr(objective, "objective", None), "eps"):
            raise ValueError("objective has no eps: pass attack=(model, x, y, generator) -> x_adv")
        self.objective = objective
        self.eval_batch = (eval_batch[0].detach(), eval_batch[1].detach())
        self.monitor = monitor
        self.attack = attack
        self.steps = steps
        self.fallback = fallback
        self.seed = seed
        self._original = objective
        self._monitor_proto = copy.deepcopy(monitor)
        self.history: list[dict[str, Any]] = []
        self._accs: list[float] = []
        self._best = -math.inf
        self._fallbacks = 0
        self._good: dict[str, Any] | None = None

    # --- training -----------------------------------------------------------------------------
    def step(self, model: torch.nn.Module, batch: Any, updater: Updater) -> StepOutput:
        return self.objective.step(model, batch, updater)

    def on_epoch_start(self, epoch: int) -> None:
        self.objective.on_epoch_start(epoch)

    def _eps(self) -> Any:
        obj = self.objective
        while not hasattr(obj, "eps"):
            obj = obj.objective  # type: ignore[attr-defined]
        return obj.eps

    def pgd_accuracy(self, model: torch.nn.Module) -> float:
        """PGD accuracy of ``model`` (eval mode, fp32) on the held-out batch, in [0, 1]."""
        net = unwrap(model)
        device = next(net.parameters()).device
        x, y = (t.to(device) for t in self.eval_batch)
        attack = self.attack or _default_attack(self._eps(), self.steps)
        gen = torch.Generator(device=device).manual_seed(self.seed)
        was_training = net.training
        net.eval()
        try:
            x_adv = attack(net, x, y, gen)
            with torch.no_grad():
                correct = (net(x_adv).argmax(1) == y) & (net(x).argmax(1) == y)
        finally:
            net.train(was_training)
        return float(correct.float().mean())

    def on_epoch_end(
        self, epoch: int, model: torch.nn.Module, updater: Updater
    ) -> dict[str, float]:
        metrics = dict(self.objective.on_epoch_end(epoch, model, updater))
        acc = self.pgd_accuracy(model)
        self._accs.append(acc)
        self.monitor.update(acc)
        collapse = bool(self.monitor.drift_detected) and acc < self._best
        event: dict[str, Any] = {"epoch": epoch, "pgd_acc": acc, "collapse": collapse}
        if collapse:
            restored = self._good is not None
            if restored:
                self._restore(model, updater)
            new = self._next_objective(self.objective)
            event["restored"] = restored
            event["fallback"] = repr(new) if new is not None else None
            if new is not None:
                self.objective = new
                self._fallbacks += 1
            logger.warning(
                "catastrophic overfitting at epoch %d: PGD accuracy %.3f (best %.3f); %s; %s",
                epoch, acc, self._best,
                "restored the last good state" if restored else "no good state to restore",
                f"switched to {new!r}" if new is not None else "objective unchanged",
            )
        else:
            self._best = max(self._best, acc)
            self._good = self._snapshot(model, updater)
        self.history.append(event)
        metrics.update({"guard_pgd_acc": acc, "guard_collapse": float(collapse)})
        return metrics

    def _next_objective(self, objective: Objective) -> Objective | None:
        if self.fallback is None:
            return None
        if self.fallback == "auto":
            make = getattr(objective, "fallback", None)
            return make() if callable(make) else None
        return self.fallback(objective)  # type: ignore[operator]

    @staticmethod
    def _snapshot(model: torch.nn.Module, updater: Updater) -> dict[str, Any]:
        net = unwrap(model)
        return {
            "model": {k: v.detach().clone() for k, v in net.state_dict().items()},
            "optimizer": copy.deepcopy(updater.optimizer.state_dict()),
            "updater": copy.deepcopy(updater.state_dict()),
        }

    def _restore(self, model: torch.nn.Module, updater: Updater) -> None:
        good = self._good
        unwrap(model).load_state_dict(good["model"])  # type: ignore[index]
        updater.optimizer.load_state_dict(copy.deepcopy(good["optimizer"]))  # type: ignore[index]
        updater.load_state_dict(copy.deepcopy(good["updater"]))  # type: ignore[index]

    # --- state --------------------------------------------------------------------------------
    @property
    def fallbacks_applied(self) -> int:
        return self._fallbacks

    def state_dict(self) -> dict[str, Any]:
        return {
            "version": _STATE_VERSION,
            "accs": list(self._accs),
            "best": self._best,
            "history": copy.deepcopy(self.history),
            "fallbacks": self._fallbacks,
            "good": self._good,
            "objective": self.objective.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("version") != _STATE_VERSION:
            raise ValueError(f"OverfitGuard state version {state.get('version')!r} is not 1")
        objective = self._original
        for _ in range(int(state["fallbacks"])):
            nxt = self._next_objective(objective)
            if nxt is None:
                break
            objective = nxt
        self.objective = objective
        self._fallbacks = int(state["fallbacks"])
        self.monitor = copy.deepcopy(self._monitor_proto)
        for acc in state["accs"]:
            self.monitor.update(acc)
        self._accs = [float(a) for a in state["accs"]]
        self._best = float(state["best"])
        self.history = copy.deepcopy(state["history"])
        self._good = state["good"]
        self.objective.load_state_dict(state["objective"])
