"""PNG figures shared by callbacks and recipes (matplotlib, Agg canvas, no pyplot state).

Example:
    >>> from ambient_dcs.reporting import save_image_grid
    >>> save_image_grid(gan.sample(64, seed=0), "results/samples.png", title="epoch 10")
"""

from __future__ import annotations

import math
import os

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["image_grid", "save_image_grid", "save_array_image", "save_error_plot", "save_comparison_grid",
           "save_curve_panels"]


def image_grid(images, ncols=None, pad=1, pad_value=1.0):
    """Tiles images ``(N, H, W)``, ``(N, H, W, 1)`` or ``(N, H, W, 3)`` into one ``(h, w[, 3])`` array.

    ``ncols`` defaults to ``ceil(sqrt(N))``; ``pad`` pixels of ``pad_value`` separate the tiles.
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"image_grid: expected images (N, H, W), (N, H, W, 1) or (N, H, W, 3); "
                         f"received shape {images.shape}.")
    n, h, w, c = images.shape
    if n == 0:
        raise ValueError("image_grid: received no images.")
    ncols = int(ncols) if ncols else int(math.ceil(math.sqrt(n)))
    nrows = int(math.ceil(n / ncols))
    grid = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad, c), pad_value, np.float32)
    for i in range(n):
        r, col = divmod(i, ncols)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[top:top + h, left:left + w] = images[i]
    return grid[..., 0] if c == 1 else grid


def _save(array, path, title, cmap, vmin, vmax, pixel_scale, aspect="equal"):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    h, w = array.shape[:2]
    dpi = 100
    width = max(w * pixel_scale / dpi, 2.0)
    height = max(h * pixel_scale / dpi, 1.0) + (0.35 if title else 0.0)
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes([0, 0, 1, (height - (0.35 if title else 0.0)) / height])
    ax.imshow(array, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest", aspect=aspect)
    ax.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=9, y=1 - 0.12 / height)
    fig.savefig(path, dpi=dpi)
    return path


def save_image_grid(images, path, ncols=None, title=None, pixel_scale=3):
    """Saves images in [0, 1] (grey ``(N, H, W[, 1])`` or RGB ``(N, H, W, 3)``) as one PNG grid.

    Values are clipped to [0, 1]. Returns ``path``.
    """
    grid = np.clip(image_grid(images, ncols=ncols), 0.0, 1.0)
    return _save(grid, path, title, "gray" if grid.ndim == 2 else None, 0.0, 1.0, pixel_scale)


def save_array_image(array, path, title=None, pixel_scale=3, cmap="gray"):
    """Saves a 2-D array (e.g. one measurement vector per row) as a PNG, scaled to its min..max."""
    array = np.asarray(array, dtype=np.float32)
    if array.ndim != 2:
        raise ValueError(f"save_array_image: expected a 2-D array; received shape {array.shape}.")
    lo, hi = float(np.min(array)), float(np.max(array))
    return _save(array, path, title, cmap, lo, hi if hi > lo else lo + 1.0, pixel_scale, aspect="auto")


def save_error_plot(curves, path, xlabel, ylabel, title=None, logx=True, logy=False):
    """Saves error curves with 95 % error bars as a PNG.

    Args:
        curves: ``{label: (x, mean, ci95)}`` with three equal-length sequences per curve.
        path: output PNG.
        xlabel, ylabel, title: axis labels and optional title.
        logx, logy: logarithmic axes (the CSGM plots use a log x axis).
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig = Figure(figsize=(6.0, 4.0), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for label, (x, mean, ci) in curves.items():
        ax.errorbar(x, mean, yerr=ci, marker="o", markersize=4, capsize=3, label=label)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    return path


def save_curve_panels(panels, path, xlabel, ylabel):
    """Saves line plots side by side as a PNG: one panel per ``{title: {label: (x, y)}}`` entry."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig = Figure(figsize=(4.2 * len(panels), 3.6), dpi=120)
    FigureCanvasAgg(fig)
    for i, (title, curves) in enumerate(panels.items()):
        ax = fig.add_subplot(1, len(panels), i + 1)
        for label, (x, y) in curves.items():
            ax.plot(x, y, marker="o", markersize=3, label=label)
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel if i == 0 else "")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    return path


def save_comparison_grid(rows, path, titles=None, pixel_scale=3):
    """Saves a grid whose row ``i`` shows ``rows[i]`` (images ``(N, H, W, C)``), e.g. truth | measured | methods.

    ``titles`` (one per row) are written on the left of each row.
    """
    rows = [np.clip(np.asarray(r, np.float32), 0, 1) for r in rows]
    n = min(len(r) for r in rows)
    grid = image_grid(np.concatenate([r[:n] for r in rows]), ncols=n)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    h, w = grid.shape[:2]
    # Room on the left for the longest row title (≈ 0.07 inch per character at font size 8).
    dpi, margin = 100, (0.2 + 0.07 * max(len(str(t)) for t in titles) if titles else 0.0)
    fig = Figure(figsize=(w * pixel_scale / dpi + margin, h * pixel_scale / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    left = margin / (w * pixel_scale / dpi + margin)
    ax = fig.add_axes([left, 0, 1 - left, 1])
    ax.imshow(grid, cmap="gray" if grid.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    for i, title in enumerate(titles or []):
        row_h = h / len(rows)
        fig.text(left - 0.01, 1 - (i + 0.5) * row_h / h, title, ha="right", va="center", fontsize=8)
    fig.savefig(path, dpi=dpi)
    return path
