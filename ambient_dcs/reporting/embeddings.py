"""Figures of latent codes: 2-D t-SNE maps coloured by class (scikit-learn's ``TSNE``, Matplotlib's Agg).

Example:
    >>> emb = save_tsne([("initial z0", z0), ("optimised ẑ", z_hat)], classes, "results/x/tsne.png", seed=0)
    >>> emb["optimised ẑ"].shape           # (N, 2)
"""

from __future__ import annotations

import pathlib

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["save_tsne"]

_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:gray",
            "tab:olive", "tab:cyan")


def save_tsne(panels, classes, path, seed, num_classes=10):
    """One t-SNE scatter per ``(title, latents)`` panel, points coloured by class (Wu et al. Fig. 5, right).

    Args:
        panels: ``[(title, latents (N, d)), …]``, the same N points in each.
        classes: ``(N,)`` int classes in ``[0, num_classes)``.
        path: the PNG to write (its folder is created).
        seed: ``random_state`` of t-SNE.
        num_classes: classes in the legend (at most 10 colours).

    Returns:
        title → the ``(N, 2)`` embedding.
    """
    from sklearn.manifold import TSNE

    fig = Figure(figsize=(5.2 * len(panels), 5.0), dpi=80)
    FigureCanvasAgg(fig)
    embeddings = {}
    for i, (title, z) in enumerate(panels, start=1):
        perplexity = float(min(30, max(2, (len(z) - 1) // 3)))
        emb = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(z)
        embeddings[title] = emb
        ax = fig.add_subplot(1, len(panels), i)
        for k in range(num_classes):
            sel = classes == k
            ax.scatter(emb[sel, 0], emb[sel, 1], s=4, color=_COLOURS[k], label=str(k))
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.axes[-1].legend(markerscale=3, fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return embeddings
