"""The ``scatter`` view: the encoded test set laid out in 2-D, coloured by label."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from genimg.errors import UserError
from genimg.models.base import GenerativeModel
from genimg.models.latent_space import LatentSpace
from genimg.plotting import class_colours, new_figure
from genimg.tasks.explore.figures import space_title, with_figure
from genimg.tasks.explore.space import check_images, in_batches, latent_space
from genimg.tasks.explore.views import require_view

MIN_IMAGES_TO_EMBED = 5  # fewer codes than this leave t-SNE no neighbours to speak of


@dataclass
class Scatter:
    codes: torch.Tensor  # (N, D) encoded test set
    labels: torch.Tensor  # (N,)
    embeddings: dict[str, np.ndarray]  # panel name -> (N, 2): "latent" (2-D codes) or "PCA" and "t-SNE"
    axis_labels: dict[str, tuple[str, str]]
    path: Path | None = None


@torch.inference_mode()
def scatter(
    model: GenerativeModel | LatentSpace,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    seed: int = 0,
    class_names: Sequence[str] | None = None,
    out: str | Path | None = None,
    ddim_steps: int = 50,
) -> Scatter:
    """Encode ``images`` and lay the codes out in 2-D, coloured by ``labels``: the codes
    themselves for a 2-D latent; otherwise their PCA projection and a t-SNE embedding
    (scikit-learn, seeded by ``seed``)."""
    space = latent_space(model, ddim_steps)
    require_view(space, "scatter")
    check_images(images, space)
    labels = torch.as_tensor(labels).long().cpu()
    if labels.shape != (images.shape[0],):
        raise UserError(f"scatter needs one label per image, got {tuple(labels.shape)} for {images.shape[0]} images")
    codes = in_batches(space.encode, images, space.labels_for(labels, images.shape[0])).float().cpu()
    embeddings: dict[str, np.ndarray] = {}
    axis_labels: dict[str, tuple[str, str]] = {}
    if codes.shape[1] == 2:
        embeddings["latent"] = codes.numpy().copy()
        axis_labels["latent"] = ("z1", "z2")
    else:
        if codes.shape[0] < MIN_IMAGES_TO_EMBED:
            raise UserError(
                f"PCA and t-SNE of the codes need at least {MIN_IMAGES_TO_EMBED} images, got {codes.shape[0]}"
            )
        pca = PCA(n_components=2, random_state=seed).fit(codes.numpy())
        embeddings["PCA"] = pca.transform(codes.numpy())
        ratio = pca.explained_variance_ratio_
        axis_labels["PCA"] = (f"PC1 ({ratio[0]:.0%} of variance)", f"PC2 ({ratio[1]:.0%} of variance)")
        perplexity = min(30.0, (codes.shape[0] - 1) / 3)
        tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto", random_state=seed)
        embeddings["t-SNE"] = tsne.fit_transform(codes.numpy())
        axis_labels["t-SNE"] = ("t-SNE 1", f"t-SNE 2 (perplexity {perplexity:.0f})")
    result = Scatter(codes, labels, embeddings, axis_labels)
    return with_figure(result, out, lambda r: draw_scatter(r, space, class_names))


def draw_scatter(result: Scatter, space: LatentSpace, class_names: Sequence[str] | None = None) -> Figure:
    """One panel per embedding, side by side, with one legend of the classes."""
    panels = list(result.embeddings)
    figure = new_figure(5.2 * len(panels) + 1.2, 5.0)
    figure.set_layout_engine("constrained")  # makes room for the legend outside the panels
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    classes = sorted(int(k) for k in result.labels.unique())
    colours = class_colours(max(classes, default=0) + 1)
    labels = result.labels.numpy()
    for ax, panel in zip(axes, panels):
        xy = result.embeddings[panel]
        for k in classes:
            mask = labels == k
            name = class_names[k] if class_names is not None and k < len(class_names) else str(k)
            ax.scatter(
                xy[mask, 0], xy[mask, 1], s=10, color=colours(k % colours.N), label=name, alpha=0.8, linewidths=0
            )
        ax.set_xlabel(result.axis_labels[panel][0], fontsize=9)
        ax.set_ylabel(result.axis_labels[panel][1], fontsize=9)
        ax.set_title(panel if panel != "latent" else "codes", fontsize=10)
    handles, names = axes[-1].get_legend_handles_labels()
    figure.legend(handles, names, title="label", loc="outside right center", markerscale=2, fontsize=9)
    figure.suptitle(f"Encoded test set ({len(labels)} images), {space_title(space)}", fontsize=11)
    return figure
