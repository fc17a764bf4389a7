#!/usr/bin/env python3
"""A backprop for bp-oracle written with PyTorch: the way a framework user checks theirs.

The network is this project's (docs/conventions.md): W^l is (n_l, n_{l−1}), b^l is (n_l,),
x is batch-first (m, n_0), z^l = a^{l−1} W^lᵀ + b^l, a^l = σ_l(z^l), and

    C = (1/m) Σ_x C_x + (l2/2) Σ_l ‖W^l‖² + l1 Σ_l Σ_jk |w^l_jk|.

Every activation is a `torch.autograd.Function` whose backward is written by hand (σ'(z) in a
form that stays accurate when σ saturates, and the oracle's conventions at the kinks:
relu'(0) = 0, leaky_relu'(0) = 1, d|w|/dw = +1 at w = 0); torch's autograd chains them, in
float64. Costs that take ln a take it from z (ln σ(z) = −softplus(−z), log-softmax), as the
reference does, so a saturated output still gives a finite cost and an accurate gradient.

    python scripts/examples/torch_backprop.py            # check_implementation(backprop, "quick")

or, from your own tests:

    from bp_oracle import assert_backprop_correct
    assert_backprop_correct(backprop, suite="default")

An activation or cost this file does not know (e.g. one registered with bp_oracle.custom) raises
NotImplementedError, which the oracle counts as SKIP, not as a failure. torch is not a dependency
of bp-oracle: `pip install torch` to run this.
"""

from __future__ import annotations

import sys

import numpy as np
import torch

DTYPE = torch.float64  # the oracle judges at float64's tolerance


# --- activations: forward, and the backward by hand ----------------------------------------------


class Sigmoid(torch.autograd.Function):
    """σ(z) = 1/(1 + e^{−z}); σ'(z) = σ(z) σ(−z), with no cancellation when σ saturates."""

    @staticmethod
    def forward(ctx, z):
        ctx.save_for_backward(z)
        return torch.sigmoid(z)

    @staticmethod
    def backward(ctx, g):
        (z,) = ctx.saved_tensors
        return g * torch.sigmoid(z) * torch.sigmoid(-z)


class Tanh(torch.autograd.Function):
    """tanh z; tanh'(z) = 4e^{−2|z|}/(1 + e^{−2|z|})², the same as 1 − tanh² but accurate in saturation."""

    @staticmethod
    def forward(ctx, z):
        ctx.save_for_backward(z)
        return torch.tanh(z)

    @staticmethod
    def backward(ctx, g):
        (z,) = ctx.saved_tensors
        e = torch.exp(-2 * z.abs())
        return g * 4 * e / (1 + e) ** 2


class ReLU(torch.autograd.Function):
    """max(z, 0); relu'(0) = 0 (the oracle's convention, as jax)."""

    @staticmethod
    def forward(ctx, z):
        ctx.save_for_backward(z)
        return torch.where(z > 0, z, torch.zeros_like(z))

    @staticmethod
    def backward(ctx, g):
        (z,) = ctx.saved_tensors
        return g * (z > 0).to(g.dtype)


class LeakyReLU(torch.autograd.Function):
    """z if z ≥ 0 else 0.01 z; the slope at 0 is 1 (the oracle's convention, as jax)."""

    @staticmethod
    def forward(ctx, z):
        ctx.save_for_backward(z)
        return torch.where(z >= 0, z, 0.01 * z)

    @staticmethod
    def backward(ctx, g):
        (z,) = ctx.saved_tensors
        return g * torch.where(z >= 0, torch.ones_like(z), torch.full_like(z, 0.01))


class ELU(torch.autograd.Function):
    """z if z > 0 else e^z − 1 (α = 1); its derivative 1 or e^z has no jump at 0."""

    @staticmethod
    def forward(ctx, z):
        ctx.save_for_backward(z)
        return torch.where(z > 0, z, torch.expm1(torch.clamp(z, max=0)))

    @staticmethod
    def backward(ctx, g):
        (z,) = ctx.saved_tensors
        return g * torch.where(z > 0, torch.ones_like(z), torch.exp(torch.clamp(z, max=0)))


class Softplus(torch.autograd.Function):
    """ln(1 + e^z), exactly (torch's F.softplus switches to z above a threshold); its derivative σ(z)."""

    @staticmethod
    def forward(ctx, z):
        ctx.save_for_backward(z)
        return torch.logaddexp(torch.zeros_like(z), z)

    @staticmethod
    def backward(ctx, g):
        (z,) = ctx.saved_tensors
        return g * torch.sigmoid(z)


class Identity(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z):
        return z.clone()

    @staticmethod
    def backward(ctx, g):
        return g


class Softmax(torch.autograd.Function):
    """e^{z_j}/Σ_k e^{z_k} per example (row); not elementwise, so the backward is the
    Jacobian–vector product Jᵀg = a ⊙ (g − aᵀg) rather than σ' ⊙ g."""

    @staticmethod
    def forward(ctx, z):
        a = torch.softmax(z, dim=-1)
        ctx.save_for_backward(a)
        return a

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return a * (g - (a * g).sum(dim=-1, keepdim=True))


ACTIVATIONS = {"sigmoid": Sigmoid, "tanh": Tanh, "relu": ReLU, "leaky_relu": LeakyReLU, "elu": ELU,
               "softplus": Softplus, "identity": Identity, "softmax": Softmax}


# --- ln a and ln(1 − a) from z, for the costs that take logarithms --------------------------------


class LogSigmoid(torch.autograd.Function):
    """ln σ(z) = −softplus(−z); its derivative σ(−z). ln(1 − σ(z)) is LogSigmoid(−z)."""

    @staticmethod
    def forward(ctx, z):
        ctx.save_for_backward(z)
        return -torch.logaddexp(torch.zeros_like(z), -z)

    @staticmethod
    def backward(ctx, g):
        (z,) = ctx.saved_tensors
        return g * torch.sigmoid(-z)


class LogSoftmax(torch.autograd.Function):
    """ln softmax(z)_j = z_j − logsumexp(z); its vector–Jacobian product g − softmax(z) Σ_j g_j."""

    @staticmethod
    def forward(ctx, z):
        out = torch.log_softmax(z, dim=-1)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (log_a,) = ctx.saved_tensors
        return g - torch.exp(log_a) * g.sum(dim=-1, keepdim=True)


def log1m_softmax(z):
    """ln(1 − softmax(z)_k) = logsumexp_{j≠k} z_j − logsumexp_j z_j: no 1 − a_k to cancel when an
    output saturates (torch's autograd differentiates it)."""
    n = z.shape[-1]
    others = z.unsqueeze(-2).expand(*z.shape[:-1], n, n)  # row k: z with z_k ...
    others = others.masked_fill(torch.eye(n, dtype=torch.bool), float("-inf"))  # ... left out
    return torch.logsumexp(others, dim=-1) - torch.logsumexp(z, dim=-1, keepdim=True)


def log_output(name: str, z):
    """(ln a, ln(1 − a)) of the output layer, from z."""
    if name == "sigmoid":
        return LogSigmoid.apply(z), LogSigmoid.apply(-z)
    if name == "softmax":
        return LogSoftmax.apply(z), log1m_softmax(z)
    raise NotImplementedError(f"costs with logarithms on a {name!r} output")


def ylog(y, log_a):
    """y ln a with 0 · ln 0 = 0 (a one-hot target on a saturated output)."""
    return torch.where(y == 0, torch.zeros_like(log_a), y * log_a)


def per_example_cost(cost: str, output: str, z, a, y):
    """C_x for every example (row): shape (m,)."""
    if cost == "quadratic":  # ½ ‖y − a‖²
        return 0.5 * ((a - y) ** 2).sum(dim=-1)
    if cost == "cross_entropy":  # −Σ_j [y ln a + (1 − y) ln(1 − a)]
        log_a, log_1ma = log_output(output, z)
        return -(ylog(y, log_a) + ylog(1 - y, log_1ma)).sum(dim=-1)
    if cost == "log_likelihood":  # −Σ_j y ln a
        log_a, _ = log_output(output, z)
        return -ylog(y, log_a).sum(dim=-1)
    raise NotImplementedError(f"cost {cost!r}")


class Abs(torch.autograd.Function):
    """|w| for the l1 term; d|w|/dw = sign(w), taken as +1 at w = 0 (the oracle's convention)."""

    @staticmethod
    def forward(ctx, w):
        ctx.save_for_backward(w)
        return w.abs()

    @staticmethod
    def backward(ctx, g):
        (w,) = ctx.saved_tensors
        return g * torch.where(w >= 0, torch.ones_like(w), -torch.ones_like(w))


# --- the backprop the oracle calls -----------------------------------------------------------------


def backprop(net, params, x, y):
    """∂C/∂W^l and ∂C/∂b^l for l = 1..L, as a list of (dW, db) NumPy pairs.

    `net` has `sizes`, `activations` (one name per layer), `cost`, `l2` and `l1`; `params` is a
    list of (W, b); x is (m, n_0), y is (m, n_L). Raises NotImplementedError for an activation or
    cost this file does not implement (the oracle counts the case as SKIP)."""
    unknown = [name for name in net.activations if name not in ACTIVATIONS]
    if unknown:
        raise NotImplementedError(f"activation {unknown[0]!r}")
    if net.cost not in ("quadratic", "cross_entropy", "log_likelihood"):
        raise NotImplementedError(f"cost {net.cost!r}")
    if net.cost != "quadratic" and net.activations[-1] not in ("sigmoid", "softmax"):
        raise NotImplementedError(f"{net.cost} on a {net.activations[-1]!r} output")

    tensors = [(torch.tensor(np.asarray(W, dtype=np.float64), dtype=DTYPE, requires_grad=True),
                torch.tensor(np.asarray(b, dtype=np.float64), dtype=DTYPE, requires_grad=True))
               for W, b in params]
    a = torch.as_tensor(np.atleast_2d(np.asarray(x, dtype=np.float64)), dtype=DTYPE)
    y = torch.as_tensor(np.atleast_2d(np.asarray(y, dtype=np.float64)), dtype=DTYPE)
    for (W, b), name in zip(tensors, net.activations):
        z = a @ W.T + b  # every example (row) gets the same bias
        a = ACTIVATIONS[name].apply(z)

    C = per_example_cost(net.cost, net.activations[-1], z, a, y).mean()  # Assumption 1: the batch mean
    if net.l2:
        C = C + 0.5 * net.l2 * sum((W ** 2).sum() for W, _ in tensors)
    if net.l1:
        C = C + net.l1 * sum(Abs.apply(W).sum() for W, _ in tensors)
    C.backward()
    return [(W.grad.numpy(), b.grad.numpy()) for W, b in tensors]


def main() -> int:
    from bp_oracle import ERROR, FAIL, PASS, SKIP, check_implementation, failure_lines

    report = check_implementation(backprop, suite="quick")
    for line in failure_lines(report):
        print(line)
    counts = {o: report.count(o) for o in (PASS, FAIL, ERROR, SKIP)}
    print(f"torch {torch.__version__}, suite {report.suite}: {len(report.results)} cases, "
          + ", ".join(f"{n} {o}" for o, n in counts.items()))
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
