"""Figures for training diagnostics, written as PNG files with matplotlib's Agg canvas.

matplotlib (the optional extra `bp-oracle[plots]`) is imported only when a figure is drawn, and
only its object API is used (no pyplot): no window, no global figure state, safe on a server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from .diagnostics import (NEAR_ZERO_THRESHOLD, SATURATION_THRESHOLD, LayerDiagnostics,
                          NeuronRun)

PLOTS_EXTRA_HINT = "pip install 'bp-oracle[plots]' (matplotlib)"


def _figure(width: float, height: float):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ModuleNotFoundError(f"plots need matplotlib: {PLOTS_EXTRA_HINT}") from None
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def plot_learning_by_layer(history: Sequence[Sequence[LayerDiagnostics]], path, title: str = "", *,
                           saturation_threshold: float = SATURATION_THRESHOLD,
                           near_zero_threshold: float = NEAR_ZERO_THRESHOLD) -> Path:
    """Four panels over epochs (history[e] is the diagnostics after epoch e, e = 0 the start), one
    line per layer: ‖∂C/∂b^l‖ (the speed of learning), ‖∂C/∂W^l‖, the share of saturated neurons
    and the share of near-zero inputs a_in."""
    if not history:
        raise ValueError("no diagnostics to plot: the history is empty")
    epochs = range(len(history))
    L = len(history[0])
    fig = _figure(11, 7.5)
    axes = fig.subplots(2, 2, sharex=True)
    panels = [
        (axes[0, 0], "bias_gradient_norm", "‖∂C/∂b^l‖: speed of learning (BP3)", True),
        (axes[0, 1], "weight_gradient_norm", "‖∂C/∂W^l‖ (BP4)", True),
        (axes[1, 0], "saturated", f"share of saturated neurons: σ'(z^l) < {saturation_threshold:g}", False),
        (axes[1, 1], "near_zero_inputs", f"share of near-zero inputs to layer l: |a^(l−1)| < {near_zero_threshold:g}", False),
    ]
    for ax, field, label, log in panels:
        for l in range(L):
            values = [getattr(per_epoch[l], field) for per_epoch in history]
            if any(v is None for v in values):
                continue  # softmax output: no elementwise σ' to saturate
            ax.plot(epochs, values, marker="o" if len(history) <= 30 else None, markersize=3,
                    label=f"layer {l + 1}")
        if log:
            ax.set_yscale("log")
        else:
            ax.set_ylim(-0.02, 1.02)
        ax.set_title(label, fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    for ax in axes[1]:
        ax.set_xlabel("epoch")
    fig.suptitle(title or "learning, layer by layer", fontsize=10)
    return _save(fig, path)


def plot_saturated_neuron(runs: Sequence[NeuronRun], path, title: str = "") -> Path:
    """Chapter 3's single saturated neuron: its output and |∂C/∂w| over epochs, one line per cost."""
    if not runs:
        raise ValueError("no runs to plot")
    fig = _figure(11, 4.2)
    ax_out, ax_cost, ax_grad = fig.subplots(1, 3)
    for run in runs:
        epochs = range(len(run.output))
        ax_out.plot(epochs, run.output, label=run.cost)
        ax_cost.plot(epochs, run.cost_value, label=run.cost)
        ax_grad.plot(epochs, abs(run.weight_gradient), label=run.cost)
    ax_out.set_title("output a (target 0)", fontsize=10)
    ax_out.set_ylim(0, 1)
    ax_cost.set_title("cost C", fontsize=10)
    ax_grad.set_title("|∂C/∂w|: how fast w moves", fontsize=10)
    ax_grad.set_yscale("log")
    for ax in (ax_out, ax_cost, ax_grad):
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title or "a saturated sigmoid neuron: quadratic cost against cross-entropy", fontsize=11)
    return _save(fig, path)


def _save(fig, path) -> Path:
    path = Path(path)
    if not path.parent.is_dir():
        raise ValueError(f"cannot write {path}: no directory {path.parent}")
    fig.savefig(path, dpi=100)
    return path
