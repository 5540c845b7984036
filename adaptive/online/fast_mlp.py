"""Fast path of OnlineLearner for plain MLPs: explicit forward/backward, one flat Adam/SGD step.

A model made only of ``Linear`` layers and element-wise activations (``ReLU``, ``Tanh``,
``Identity``), trained with cross-entropy or MSE by Adam or plain SGD in fp32, learns here
without autograd, module mode switches or per-parameter optimizer loops. The ops are the ones
autograd and ``torch.optim`` run on such a model (``addmm`` forward, the same ``mm`` products
backward, the single-tensor Adam update), so the result equals the generic path exactly; the
test ``test_online_fast.py`` checks it. The parameters stay the model's own ``Parameter``
objects: they become views of one flat buffer (and the optimizer's moments views of two more),
so the optimizer's update runs as a handful of ops over all weights at once, and anything else
that touches the model or the optimizer (policies, ``state_dict``, a user's own step) still
sees and changes the same numbers.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


def mlp_layers(model: torch.nn.Module) -> list[tuple[torch.nn.Linear, type | None]] | None:
    """``[(linear, activation type or None), ...]`` if ``model`` is a Sequential of Linear
    layers and supported activations (ending with a Linear), else None."""
    if not isinstance(model, torch.nn.Sequential):
        return None
    out: list[list] = []
    for m in (m for m in model if not isinstance(m, torch.nn.Identity)):
        if type(m) is torch.nn.Linear:
            out.append([m, None])
        elif type(m) in (torch.nn.ReLU, torch.nn.Tanh) and out and out[-1][1] is None:
            out[-1][1] = type(m)
        else:
            return None
    if not out or out[-1][1] is not None:
        return None
    return [tuple(o) for o in out]


def supported(model: torch.nn.Module, optimizer: torch.optim.Optimizer, loss: Any,
              updater: Any, default_objective: bool) -> str | None:
    """Why the fast path cannot train ``model`` (None when it can)."""
    if not default_objective:
        return "a custom objective"
    if loss not in ("ce", "mse"):
        return f"loss {loss!r} (ce or mse only)"
    if mlp_layers(model) is None:
        return "the model is not a Sequential of Linear, ReLU and Tanh layers"
    params = list(model.parameters())
    if any(p.dtype != torch.float32 or p.device.type != "cpu" or not p.requires_grad
           for p in params):
        return "parameters are not trainable fp32 CPU tensors"
    groups = optimizer.param_groups
    if len(groups) != 1 or [id(p) for p in groups[0]["params"]] != [id(p) for p in params]:
        return "the optimizer does not hold exactly the model's parameters, in one group"
    g = groups[0]
    if isinstance(g["lr"], torch.Tensor):
        return "a tensor learning rate"
    if type(optimizer) is torch.optim.Adam:
        if g["weight_decay"] or g["amsgrad"] or g["maximize"] or g.get("foreach") or \
                g["capturable"] or g["differentiable"] or g.get("decoupled_weight_decay"):
            return "Adam options beyond lr, betas, eps and fused"
    elif type(optimizer) is torch.optim.SGD:
        if g["momentum"] or g["weight_decay"] or g["maximize"] or g["dampening"] or \
                g.get("foreach") or g.get("fused"):
            return "SGD options beyond lr"
    else:
        return f"optimizer {type(optimizer).__name__} (Adam or SGD only)"
    if updater.precision.name != "fp32" or updater.grad_clip is not None or \
            updater.scheduler is not None:
        return "precision other than fp32, grad_clip or a scheduler"
    return None


class FlatParams:
    """The model's parameters as views of one flat buffer ``flat`` (P,), and, for Adam, the
    optimizer's moments as views of ``exp_avg`` and ``exp_avg_sq`` (P,).

    Adam's step count stays in the optimizer's per-parameter ``state["step"]`` tensors: each
    fast update reads it and writes the new count to all of them, so torch's own ``step``, a
    ``state_dict``, a copy or a pickle of the optimizer always see the true count.
    """

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer):
        self.params = list(model.parameters())
        self.optimizer = optimizer
        self.adam = type(optimizer) is torch.optim.Adam
        self.fused = bool(optimizer.param_groups[0].get("fused"))
        self.sizes = [p.numel() for p in self.params]
        self.flat = torch.cat([p.detach().reshape(-1) for p in self.params])  # (P,)
        self.views = list(torch.split(self.flat, self.sizes))
        with torch.no_grad():
            for p, v in zip(self.params, self.views):
                p.data = v.view_as(p)
        self._ptrs = [v.data_ptr() for v in self.views]
        self.exp_avg = torch.zeros_like(self.flat)
        self.exp_avg_sq = torch.zeros_like(self.flat)
        self._states: list[dict] = []
        self.step = 0

    def params_bound(self) -> bool:
        """True while the first and last parameters are views of ``flat``."""
        return (self.params[0].data_ptr() == self._ptrs[0]
                and self.params[-1].data_ptr() == self._ptrs[-1])

    def bound(self) -> bool:
        """:meth:`params_bound`, and (Adam) the optimizer's state entries are the ones this
        buffer made."""
        if not self.params_bound():
            return False
        if not self.adam:
            return True
        st = self.optimizer.state
        return bool(self._states) and all(st.get(p) is s
                                          for p, s in zip(self.params, self._states))

    def bind_params(self) -> None:
        """(Re)make the parameters views of ``flat``, keeping their values."""
        with torch.no_grad():
            for p, v in zip(self.params, self.views):
                if p.data_ptr() != v.data_ptr():
                    v.copy_(p.detach().reshape(-1))
                    p.data = v.view_as(p)

    def bind(self) -> None:
        """(Re)make parameters and Adam moments views of the flat buffers, keeping values."""
        self.bind_params()
        if not self.adam:
            return
        st = self.optimizer.state
        steps = {float(st[p]["step"]) for p in self.params if "step" in st.get(p, {})}
        if len(steps) > 1:
            raise RuntimeError("Adam state has different step counts per parameter")
        self.step = int(steps.pop()) if steps else 0
        self._states = []
        with torch.no_grad():
            for p, m, v in zip(self.params, torch.split(self.exp_avg, self.sizes),
                               torch.split(self.exp_avg_sq, self.sizes)):
                old = st.get(p, {})
                for buf, key in ((m, "exp_avg"), (v, "exp_avg_sq")):
                    if key in old:
                        buf.copy_(old[key].reshape(-1))
                    else:  # zero_, not 0 * buf: a non-finite old moment must not survive
                        buf.zero_()
                s = {"step": torch.tensor(float(self.step)), "exp_avg": m.view_as(p),
                     "exp_avg_sq": v.view_as(p)}
                st[p] = s
                self._states.append(s)

    def update(self, grad: torch.Tensor) -> None:
        """One optimizer step with the flat gradient ``grad`` (P,): the arithmetic of torch's
        single-tensor Adam (fused Adam when the optimizer is fused; plain SGD), over all
        parameters at once."""
        g = self.optimizer.param_groups[0]
        if not self.adam:
            self.flat.add_(grad, alpha=-g["lr"])
            return
        beta1, beta2 = g["betas"]
        # the count lives in the optimizer's own state (a torch step in between, a copy or a
        # pickle of the optimizer all see and keep it): read it, and write it to every parameter
        step = self._states[0]["step"]
        self.step = int(step) + 1
        for s in self._states:
            s["step"].fill_(self.step)
        if self.fused:
            torch._fused_adam_([self.flat], [grad], [self.exp_avg], [self.exp_avg_sq], [],
                               [step], amsgrad=False, lr=g["lr"], beta1=beta1,
                               beta2=beta2, weight_decay=0.0, eps=g["eps"], maximize=False)
            return
        self.exp_avg.lerp_(grad, 1 - beta1)
        self.exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        bc1 = 1 - beta1 ** self.step
        bc2_sqrt = (1 - beta2 ** self.step) ** 0.5
        denom = (self.exp_avg_sq.sqrt() / bc2_sqrt).add_(g["eps"])
        self.flat.addcdiv_(self.exp_avg, denom, value=-(g["lr"] / bc1))


class FastMLP:
    """Explicit forward/backward of an MLP on :class:`FlatParams`.

    ``forward(x)`` returns the output (B, C) and the activations kept for ``learn``;
    ``learn(x, y, acts)`` takes one optimizer step on the mean loss and returns the output
    before the step. The layers' weights are read through detached views of the parameters
    (no autograd bookkeeping), renewed whenever the parameters were rebound.
    """

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, loss: str):
        self.layers = mlp_layers(model)
        self.loss = loss
        self.buf = FlatParams(model, optimizer)
        if [id(p) for p in self.buf.params] != [
                id(t) for lin, _ in self.layers for t in (lin.weight, lin.bias) if t is not None]:  # type: ignore[union-attr]
            raise ValueError("model parameters are not in layer order")
        self.grad = torch.zeros_like(self.buf.flat)
        self._eye: torch.Tensor | None = None
        self._grad_views: list[tuple[torch.Tensor, torch.Tensor | None]] = []
        off = 0
        for lin, _ in self.layers:  # type: ignore[union-attr]
            w = self.grad[off:off + lin.weight.numel()].view_as(lin.weight)
            off += lin.weight.numel()
            b = None
            if lin.bias is not None:
                b = self.grad[off:off + lin.bias.numel()]
                off += lin.bias.numel()
            self._grad_views.append((w, b))
        self._views()

    def _views(self) -> None:
        """(weight, bias, activation) per layer, the tensors detached from autograd."""
        self._wb = [(lin.weight.detach(), None if lin.bias is None else lin.bias.detach(), act)
                    for lin, act in self.layers]  # type: ignore[union-attr]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        if not self.buf.params_bound():
            self.buf.bind_params()
            self._views()
        acts = [x]  # inputs of each Linear, then the output
        h = x
        for w, b, act in self._wb:
            h = F.linear(h, w, b)
            if act is torch.nn.ReLU:
                h = torch.relu(h)
            elif act is torch.nn.Tanh:
                h = torch.tanh(h)
            acts.append(h)
        return h, acts

    def _loss_grad(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Gradient of the mean loss w.r.t. the outputs (B, C), as autograd computes it."""
        b = out.shape[0]
        if self.loss == "ce":
            logp = torch.log_softmax(out, 1)
            if b == 1:  # -(1/B) one-hot rows, B = 1
                g = torch.index_select(self._neg_eye(out.shape[1]), 0, y)
            else:
                g = torch.zeros_like(out)
                g.scatter_(1, y.view(-1, 1), -(torch.ones(b, 1) / b))
            return torch._log_softmax_backward_data(g, logp, 1, out.dtype)
        k = out[0].numel()
        diff = out.reshape(b, -1) - y.reshape(b, -1).to(out.dtype)
        scale = torch.full((b, 1), 1.0 / b) / k
        return (scale * (2.0 * diff)).reshape(out.shape)

    def _neg_eye(self, c: int) -> torch.Tensor:
        if self._eye is None or self._eye.shape[0] != c:
            self._eye = -torch.eye(c)
        return self._eye

    def learn(self, x: torch.Tensor, y: torch.Tensor,
              acts: list[torch.Tensor] | None = None) -> torch.Tensor:
        if not self.buf.bound():
            self.buf.bind()
            self._views()
        if acts is None:
            _, acts = self.forward(x)
        out = acts[-1]
        g = self._loss_grad(out, y)
        for i in range(len(self._wb) - 1, -1, -1):
            w, _, act = self._wb[i]
            if act is torch.nn.ReLU:
                g = torch.ops.aten.threshold_backward(g, acts[i + 1], 0)
            elif act is torch.nn.Tanh:
                g = torch.ops.aten.tanh_backward(g, acts[i + 1])
            gw, gb = self._grad_views[i]
            torch.mm(g.t(), acts[i], out=gw)
            if gb is not None:
                torch.sum(g, 0, out=gb)
            if i:
                g = g.mm(w)
        self.buf.update(self.grad)
        return out
