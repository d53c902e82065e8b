"""CS-SGAN on embedded MNIST: class-conditional samples and a t-SNE of optimised latents (Wu et al. Fig. 5).

Trains a semi-supervised CS-GAN: an MLP generator with batch norm (z = 100; see
``ambient_dcs.csgan.mlp_bn_generator`` for why not the DCS MLP) and an MLP classifier with 11
outputs (10 digits + "generated") as the measurement. A class-balanced fraction of the 4,000
embedded training digits keeps its label (``--labelled-fraction``); the rest are unlabelled and only
train the real/fake distinction. Generating digit k means optimising z toward class k (3 latent
steps). Reports the classifier's accuracy on the 1,000 embedded test digits, how often the
project's independent MNIST classifier recognises a sample for class k as k, and the IS / FID of
the samples; draws a class-conditional sample grid and a t-SNE (scikit-learn) of the initial and
the optimised latents of ``--tsne-samples`` samples coloured by their class.

Writes to ``--out`` (default ``results/cs_sgan``): ``samples_by_class.png`` (row k: samples for
digit k), ``tsne.png``, ``summary.md``, ``results.json``, ``latents.npz`` (z0, ẑ, classes).

The default budget (3,000 steps of batch 64) takes about 15-20 minutes on a 2-core CPU; the paper
keeps its GAN settings (200,000 steps: ``--steps 200000``).
"""

from __future__ import annotations

import argparse
import time

import keras
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.manifold import TSNE

from ambient_dcs.csgan import CSSGAN, hide_labels, mlp_bn_generator
from ambient_dcs.data import as_tf_dataset, load_dataset
from ambient_dcs.dcs import fit_for_steps
from ambient_dcs.distribute import add_strategy_argument, make_strategy, set_precision
from ambient_dcs.figures import save_image_grid
from ambient_dcs.metrics import classifier_scores, mnist_classifier
from ambient_dcs.networks import mlp_discriminator, mlp_generator
from ambient_dcs.reporting import machine_description, markdown_table, prepare_output_dir, write_json

IMAGE_SHAPE = (28, 28, 1)
K = 10
_SECONDS_PER_STEP = 0.27  # one C and one G update, batch 64, T = 3, on the project's 2-core CPU (estimate only)


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m recipes.cs_sgan", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--steps", type=int, default=3000, help="training steps (1 classifier + 1 generator update each)")
    p.add_argument("--labelled-fraction", type=float, default=0.1,
                   help="fraction of each digit's training images that keep their label (the rest: unlabelled)")
    p.add_argument("--latent-steps", type=int, default=3, help="latent gradient steps T (paper: 3)")
    p.add_argument("--batch-size", type=int, default=64, help="training batch size")
    p.add_argument("--learning-rate", type=float, default=2e-4, help="Adam lr of C and G (β1 0.5, as CS-GAN)")
    p.add_argument("--latent-dim", type=int, default=100, help="size of z")
    p.add_argument("--generator", choices=("mlp-bn", "mlp"), default="mlp-bn",
                   help="G: an MLP with batch norm (256-512-1024), or the paper's DCS MLP (500-500, no norm)")
    p.add_argument("--optimisation-cost-weight", type=float, default=3.0, help="β of β·‖ẑ − z0‖² (CS-GAN: 3)")
    p.add_argument("--step-size", type=float, default=0.01, help="initial latent step size (learned)")
    p.add_argument("--tsne-samples", type=int, default=2000, help="samples in the t-SNE plot (paper: 2000)")
    p.add_argument("--samples-per-class", type=int, default=10, help="columns of the class-conditional grid")
    p.add_argument("--eval-samples", type=int, default=2000, help="samples for the conditional accuracy and IS/FID")
    p.add_argument("--classifier-epochs", type=int, default=20, help="epochs of the cached independent MNIST classifier")
    p.add_argument("--train-images", type=int, default=4000, help="training digits used (embedded split: 4000)")
    p.add_argument("--log-every", type=int, default=500, help="training steps per progress line")
    p.add_argument("--seed", type=int, default=0, help="seed of the networks, labels kept, data order and latents")
    add_strategy_argument(p)
    p.add_argument("--out", default="results/cs_sgan", help="output folder")
    args = p.parse_args(argv)
    for name in ("steps", "batch_size", "latent_dim", "tsne_samples", "samples_per_class", "eval_samples",
                 "classifier_epochs", "train_images", "log_every"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be a positive integer; received {getattr(args, name)}")
    if not 0 <= args.labelled_fraction <= 1:
        p.error(f"--labelled-fraction must be in [0, 1]; received {args.labelled_fraction}")
    if args.latent_steps < 0:
        p.error("--latent-steps must be >= 0")
    return args


def save_tsne(panels, classes, path, seed):
    """One scatter per ``(title, latents)`` panel, points coloured by class (paper Fig. 5, right)."""
    fig = Figure(figsize=(5.2 * len(panels), 5.0), dpi=80)
    FigureCanvasAgg(fig)
    colours = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:gray",
               "tab:olive", "tab:cyan")
    embeddings = {}
    for i, (title, z) in enumerate(panels, start=1):
        perplexity = float(min(30, max(2, (len(z) - 1) // 3)))
        emb = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(z)
        embeddings[title] = emb
        ax = fig.add_subplot(1, len(panels), i)
        for k in range(K):
            sel = classes == k
            ax.scatter(emb[sel, 0], emb[sel, 1], s=4, color=colours[k], label=str(k))
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.axes[-1].legend(markerscale=3, fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    fig.savefig(path)
    return embeddings


def cluster_purity(emb, classes, neighbours=10):
    """Fraction of each point's nearest neighbours (in the t-SNE map) that share its class."""
    d = ((emb[:, None, :] - emb[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    nearest = np.argsort(d, axis=1)[:, :neighbours]
    return float(np.mean(classes[nearest] == classes[:, None]))


def main(argv=None):
    args = parse_args(argv)
    set_precision(args.precision)
    out = prepare_output_dir(args.out)
    estimate = _SECONDS_PER_STEP * (1 + 0.15 * (args.latent_steps - 3)) * args.steps + 60
    print(f"CS-SGAN: {args.steps} steps, {args.labelled_fraction:.0%} of the labels, T = {args.latent_steps}. "
          f"Expect about {estimate / 60:.0f} min on a 2-core CPU (more if it is shared). Writing to {out}/",
          flush=True)
    start = time.perf_counter()
    x_train, y_train = load_dataset("mnist-embedded", "train", with_labels=True)
    x_train, y_train = x_train[: args.train_images], y_train[: args.train_images]
    x_test, y_test = load_dataset("mnist-embedded", "test", with_labels=True)
    labels = hide_labels(y_train, args.labelled_fraction, seed=args.seed, num_classes=K)
    n_labelled = int(np.sum(labels >= 0))
    print(f"{n_labelled} labelled and {len(labels) - n_labelled} unlabelled training digits", flush=True)

    make_generator = mlp_bn_generator if args.generator == "mlp-bn" else mlp_generator
    with make_strategy(args.strategy).scope():
        sgan = CSSGAN(make_generator(latent_dim=args.latent_dim, seed=2 * args.seed),
                      mlp_discriminator(IMAGE_SHAPE, outputs=K + 1, seed=2 * args.seed + 1),
                      latent_steps=args.latent_steps, optimisation_cost_weight=args.optimisation_cost_weight,
                      step_size=args.step_size, seed=args.seed)
        sgan.compile(g_optimizer=keras.optimizers.Adam(args.learning_rate, beta_1=0.5, beta_2=0.999),
                     d_optimizer=keras.optimizers.Adam(args.learning_rate, beta_1=0.5, beta_2=0.999))
    data = as_tf_dataset(x_train, labels, batch_size=args.batch_size, seed=args.seed, repeat=True,
                         drop_remainder=True)
    history, _ = fit_for_steps(sgan, data, args.steps, args.log_every)
    train_seconds = time.perf_counter() - start

    accuracy = sgan.test_accuracy(x_test, y_test)
    print(f"CS-SGAN classifier test accuracy: {accuracy:.4f} ({n_labelled} labels)", flush=True)

    grid_classes = np.repeat(np.arange(K), args.samples_per_class)
    grid = sgan.sample(len(grid_classes), classes=grid_classes, seed=args.seed + 1)
    save_image_grid(grid, out / "samples_by_class.png", ncols=args.samples_per_class,
                    title="CS-SGAN samples, row k: latents optimised toward digit k")

    evaluation = sgan.sample_with_latents(args.eval_samples, classes=np.arange(args.eval_samples) % K,
                                          seed=args.seed + 2)
    judge = mnist_classifier(epochs=args.classifier_epochs)
    judged = judge.predict(evaluation["images"])
    conditional = float(np.mean(judged == evaluation["classes"]))
    per_class = [float(np.mean(judged[evaluation["classes"] == k] == k)) for k in range(K)]
    scores = classifier_scores(evaluation["images"], judge, x_test)
    print(f"samples for digit k recognised as k by the independent classifier: {conditional:.3f}; "
          f"IS {scores['inception_score']:.2f}, FID {scores['fid']:.1f}", flush=True)

    n = min(args.tsne_samples, args.eval_samples)
    rng = np.random.default_rng(args.seed)
    pick = rng.permutation(args.eval_samples)[:n]
    z0 = evaluation["z0"][pick]
    z0 = z0 / np.linalg.norm(z0, axis=1, keepdims=True)  # the projected start of the latent optimisation
    z_hat, classes = evaluation["z"][pick], evaluation["classes"][pick]
    panels = [("initial latents z0 (projected)", z0), (f"optimised latents ẑ (T = {args.latent_steps})", z_hat)]
    embeddings = save_tsne(panels, classes, out / "tsne.png", args.seed)
    purity = {title: cluster_purity(emb, classes) for title, emb in embeddings.items()}
    np.savez_compressed(out / "latents.npz", z0=evaluation["z0"], z=evaluation["z"], classes=evaluation["classes"])

    seconds = time.perf_counter() - start
    rows = [{"quantity": "classifier test accuracy (1,000 embedded test digits)", "value": accuracy},
            {"quantity": "samples for digit k judged k by the independent MNIST classifier", "value": conditional},
            {"quantity": "IS of the samples (MNIST classifier)", "value": scores["inception_score"]},
            {"quantity": "FID of the samples (MNIST classifier features, vs test digits)", "value": scores["fid"]},
            {"quantity": "learned latent step size", "value": sgan.step_size()}]
    rows += [{"quantity": f"t-SNE 10-NN class agreement, {title}", "value": v} for title, v in purity.items()]
    summary = "\n".join([
        "# CS-SGAN on embedded MNIST (Wu et al. 2019, §4.3, Fig. 5)", "",
        f"{args.generator.upper()} generator (z = {args.latent_dim}) and MLP classifier with {K + 1} outputs; {n_labelled} labelled "
        f"({args.labelled_fraction:.0%} per digit) and {len(labels) - n_labelled} unlabelled training digits; "
        f"T = {args.latent_steps} latent steps, optimisation-cost weight {args.optimisation_cost_weight}; Adam "
        f"({args.learning_rate}, β1 0.5), batch {args.batch_size}, {args.steps} steps "
        f"({args.steps * args.batch_size / len(x_train):.0f} epochs). Training {train_seconds / 60:.1f} min, "
        f"whole run {seconds / 60:.1f} min.", "",
        markdown_table(rows, ["quantity", "value"]), "",
        "Per digit, samples judged as their class: " + ", ".join(f"{k}: {v:.2f}" for k, v in enumerate(per_class)) + ".",
        "",
        "Figures: `samples_by_class.png` (row k: samples optimised toward digit k), `tsne.png` (t-SNE of "
        f"{n} initial and optimised latents, coloured by target digit). The paper gives no number for "
        "CS-SGAN, only Fig. 5 (samples and a t-SNE whose latents form one region per digit).", ""])
    (out / "summary.md").write_text(summary)
    write_json({"settings": vars(args), "machine": machine_description(), "wall_time_s": seconds,
                "train_seconds": train_seconds, "test_accuracy": accuracy, "labelled": n_labelled,
                "conditional_accuracy": conditional, "per_class_conditional_accuracy": per_class,
                "scores": scores, "tsne_neighbour_agreement": purity, "learned_step_size": sgan.step_size(),
                "history": history}, out / "results.json")
    print("\n" + summary)
    print(f"Results written to {out}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
