"""The CS-GAN experiments of Wu et al. (ICML 2019) on embedded MNIST: latent steps T and CS-SGAN.

* :func:`csgan_latent_steps` (§4.2, Fig. 3) trains a small MNIST CS-GAN with several numbers of
  latent optimisation steps T (T = 0: a vanilla GAN) and seeds under one budget and scores its
  samples with the project's MNIST classifier (IS and FID against the test digits), mean ± std over
  seeds;
* :func:`cs_sgan` (§4.3, Fig. 5) trains a semi-supervised CS-GAN (a K + 1-way classifier as the
  measurement, a fraction of the labels kept), then reports its test accuracy, how often an
  independent classifier recognises samples for class k as k, IS / FID, a class-conditional grid
  and a t-SNE of the initial and optimised latents.

Each model trains in its own folder under the output folder (``csgan_T<T>_s<seed>_training``,
``cs_sgan_training``) with :func:`~ambient_dcs.training.train`: an interrupted run resumes there.

Example:
    >>> result = csgan_latent_steps(CsganLatentStepsConfig(latent_steps=[0, 3, 5], seeds=[0, 1, 2]))
    >>> markdown = write_csgan_latent_steps_report(result)     # scores.csv, table.md, results.json
    >>> result = cs_sgan(CsSganConfig(steps=3000)); write_cs_sgan_report(result)

``python -m recipes.csgan_latent_steps`` and ``python -m recipes.cs_sgan`` are argparse and these calls.
"""

from __future__ import annotations

import dataclasses
import itertools
import pathlib
import time

import keras
import numpy as np
import tensorflow as tf

from ..data.datasets import as_tf_dataset, load_dataset
from ..data.measured import hide_labels
from ..metrics import classifier_scores, mnist_classifier, summarize
from ..models.csgan import CSGAN, CSSGAN, LATENT_OBJECTIVES, PENALTY_ANCHORS
from ..networks import conv_critic, mlp_bn_generator, mlp_discriminator, mlp_generator
from ..priors.store import train_run
from ..reporting.embeddings import save_tsne
from ..reporting.figures import save_comparison_grid, save_image_grid
from ..reporting.tables import machine_description, markdown_table, prepare_output_dir, write_csv, write_json

__all__ = ["CsganLatentStepsConfig", "CsganLatentStepsResult", "csgan_latent_steps", "write_csgan_latent_steps_report",
           "CsSganConfig", "CsSganResult", "cs_sgan", "write_cs_sgan_report", "make_generator", "make_discriminator",
           "aggregate", "cluster_purity", "VARIANTS", "variants_of", "variant_label", "latent_steps_table", "doc_latent_steps_table"]

IMAGE_SHAPE = (28, 28, 1)
K = 10
# Seconds per training step (one D and one G update, batch 64) on the project's 2-core CPU; only
# used for the up-front time estimates.
_SECONDS_PER_STEP = {0: 0.07, 3: 0.25, 5: 0.35}
_SGAN_SECONDS_PER_STEP = 0.27  # CS-SGAN, T = 3


def make_discriminator(kind, seed, outputs=2):
    """``"mlp"`` (the paper's MNIST MLP), ``"conv"`` (the conv critic) or ``"conv-sn"`` (with spectral norm)."""
    if kind == "mlp":
        return mlp_discriminator(IMAGE_SHAPE, outputs=outputs, seed=seed)
    return conv_critic(IMAGE_SHAPE, seed=seed, spectral_norm=kind == "conv-sn", outputs=outputs)


def make_generator(kind, latent_dim, seed):
    """``"mlp-bn"`` (an MLP with batch norm, 256-512-1024) or ``"mlp"`` (the paper's DCS MLP, 500-500, no norm)."""
    if kind == "mlp":
        return mlp_generator(latent_dim=latent_dim, seed=seed)
    return mlp_bn_generator(latent_dim=latent_dim, seed=seed)


def _adam(learning_rate):
    return keras.optimizers.Adam(learning_rate, beta_1=0.5, beta_2=0.999)


def _training_settings(config, drop, **override):
    return {k: v for k, v in dataclasses.asdict(config).items() if k not in drop} | override


# ------------------------------------------------------------------------------------ CS-GAN, T sweep
@dataclasses.dataclass
class CsganLatentStepsConfig:
    """Settings (the flags of ``recipes.csgan_latent_steps``, same names).

    Attributes:
        latent_steps: values of T (paper Fig. 3: 0, 3, 5).
        seeds: training seeds (one model per seed and T).
        steps, batch_size, learning_rate: training (1 D + 1 G update per step; Adam β1 0.5).
        latent_dim: size of z.
        optimisation_cost_weight: β of β·‖ẑ − z0‖².
        step_size: initial latent step size (learned).
        variants: ``"<latent_objective>:<penalty_anchor>"`` pairs run for every T > 0 (see
            :class:`~ambient_dcs.models.CSGAN`; T = 0 has neither and runs once).
        generator: ``"mlp-bn"`` or ``"mlp"`` (:func:`make_generator`).
        discriminator: ``"mlp"``, ``"conv"`` or ``"conv-sn"`` (:func:`make_discriminator`).
        eval_samples: samples scored per model.
        classifier_epochs: epochs of the cached MNIST classifier used for IS / FID.
        train_images: training digits used.
        log_every: training steps per progress line (and checkpoint).
        strategy, precision: recorded with the settings (the strategy object is an argument of
            :func:`csgan_latent_steps`).
        out: output folder.
    """

    latent_steps: list = dataclasses.field(default_factory=lambda: [0, 3, 5])
    seeds: list = dataclasses.field(default_factory=lambda: [0, 1, 2])
    steps: int = 800
    batch_size: int = 64
    learning_rate: float = 2e-4
    latent_dim: int = 100
    optimisation_cost_weight: float = 3.0
    step_size: float = 0.01
    variants: list = dataclasses.field(default_factory=lambda: ["per-example:projected"])
    generator: str = "mlp-bn"
    discriminator: str = "mlp"
    eval_samples: int = 1000
    classifier_epochs: int = 20
    train_images: int = 4000
    log_every: int = 300
    strategy: str = "default"
    precision: str = "float32"
    out: str = "results/csgan_latent_steps"


@dataclasses.dataclass
class CsganLatentStepsResult:
    """Attributes: config; out; runs (one per T and seed: scores, learned step size, last losses,
    history); table (:func:`aggregate` of the runs); real (the scores of real digits);
    classifier_test_accuracy; wall_time_s."""

    config: CsganLatentStepsConfig
    out: pathlib.Path
    runs: list
    table: list
    real: dict
    classifier_test_accuracy: float
    wall_time_s: float


VARIANTS = tuple(f"{o}:{a}" for o in LATENT_OBJECTIVES for a in PENALTY_ANCHORS)


def variants_of(config, t):
    """``[(latent_objective, penalty_anchor), …]`` run at ``t`` latent steps (one, unused, at T = 0)."""
    if t == 0:
        return [("per-example", "initial")]
    return [tuple(v.split(":")) for v in config.variants]


def variant_label(t, objective, anchor):
    """``"per-example, z0"`` etc. for the tables (``"–"`` at T = 0, where neither applies)."""
    return "–" if t == 0 else f"{objective}, {'z0' if anchor == 'initial' else 'proj(z0)'}"


def train_csgan(t, seed, x_train, config, strategy=None, objective="per-example", anchor="initial"):
    """Builds, compiles and trains (or resumes) the CS-GAN with ``t`` latent steps, ``seed`` and the
    variant ``(objective, anchor)``: ``(model, history, train_seconds)``."""
    tag = "" if (objective, anchor) == ("per-example", "initial") else f"_{objective}_{anchor}"
    with (strategy or tf.distribute.get_strategy()).scope():
        gan = CSGAN(make_generator(config.generator, config.latent_dim, 2 * seed),
                    make_discriminator(config.discriminator, 2 * seed + 1), latent_steps=t,
                    optimisation_cost_weight=config.optimisation_cost_weight, step_size=config.step_size,
                    latent_objective=objective, penalty_anchor=anchor, seed=seed, name=f"csgan_T{t}_s{seed}{tag}")
        gan.compile(g_optimizer=_adam(config.learning_rate), d_optimizer=_adam(config.learning_rate))
    data = as_tf_dataset(x_train, batch_size=config.batch_size, seed=seed, repeat=True, drop_remainder=True)
    settings = _training_settings(config, ("seeds", "eval_samples", "classifier_epochs", "log_every", "out",
                                           "variants", "latent_steps"),
                                  latent_steps=t, seed=seed, latent_objective=objective, penalty_anchor=anchor)
    run_dir = pathlib.Path(config.out) / f"{gan.name}_training"
    history, seconds = train_run(gan, data, steps=config.steps, run_dir=run_dir, settings=settings,
                                 log_every=config.log_every, seed=seed)
    return gan, history, seconds


def aggregate(runs, latent_steps):
    """Mean and std over seeds of each (T, variant)'s IS, FID, learned step size and training time."""
    table = []
    for t, variant in dict.fromkeys((r["latent_steps"], r.get("variant", "–")) for r in runs
                                    if r["latent_steps"] in latent_steps):
        sel = [r for r in runs if r["latent_steps"] == t and r.get("variant", "–") == variant]
        inception, fid = summarize([r["inception_score"] for r in sel]), summarize([r["fid"] for r in sel])
        table.append({"latent_steps": t, "variant": variant, "seeds": len(sel), "inception_score": inception["mean"],
                      "inception_score_std": inception["std"], "fid": fid["mean"], "fid_std": fid["std"],
                      "learned_step_size": float(np.mean([r["learned_step_size"] for r in sel])),
                      "train_seconds": float(np.mean([r["train_seconds"] for r in sel]))})
    return table


def _last(history, name):
    return float(history[name][-1]) if history.get(name) else float("nan")


def csgan_latent_steps(config, strategy=None):
    """Trains and scores a CS-GAN per T and seed; prints the plan with the expected time, then one line per model.

    Writes the sample grids ``samples_T<T>.png`` (first seed) and ``samples_T0_3_5.png`` (the paper's
    Fig. 3 layout) as it goes.

    Returns:
        A :class:`CsganLatentStepsResult` (tables by :func:`write_csgan_latent_steps_report`).
    """
    out = prepare_output_dir(config.out)
    estimate = (sum(_SECONDS_PER_STEP.get(t, 0.1 + 0.036 * t) for t in config.latent_steps) * len(config.seeds)
                * config.steps)
    print(f"CS-GAN T = {config.latent_steps}, seeds {config.seeds}, {config.steps} steps each; IS/FID of "
          f"{config.eval_samples} samples per model. Expect about {estimate / 60 + 1:.0f} min on a 2-core CPU "
          f"(more if it is shared). Writing to {out}/", flush=True)
    start = time.perf_counter()
    x_train = load_dataset("mnist-embedded", "train")[: config.train_images]
    x_test = load_dataset("mnist-embedded", "test")
    classifier = mnist_classifier(epochs=config.classifier_epochs)
    real = classifier_scores(x_train[: min(len(x_train), config.eval_samples)], classifier, x_test)
    runs, grids = [], {}
    for t in config.latent_steps:
        for (objective, anchor), seed in itertools.product(variants_of(config, t), config.seeds):
            variant = variant_label(t, objective, anchor)
            print(f"\n== T = {t} ({variant}), seed {seed}: training {config.steps} steps", flush=True)
            gan, history, train_seconds = train_csgan(t, seed, x_train, config, strategy, objective, anchor)
            samples = gan.sample(config.eval_samples, seed=1000 + seed)
            scores = classifier_scores(samples, classifier, x_test)
            runs.append({"latent_steps": t, "variant": variant, "seed": seed,
                         "inception_score": scores["inception_score"],
                         "fid": scores["fid"], "learned_step_size": gan.step_size(),
                         "d_loss": _last(history, "d_loss"), "g_error": _last(history, "g_error"),
                         "train_seconds": train_seconds, "history": history})
            print(f"   T = {t}, seed {seed}: IS {scores['inception_score']:.2f}, FID {scores['fid']:.1f}, "
                  f"trained in {train_seconds:.0f} s", flush=True)
            if seed == config.seeds[0] and t not in grids:  # the first variant's
                grids[t] = samples[:100]
                save_image_grid(samples[:100], out / f"samples_T{t}.png", ncols=10, title=f"CS-GAN, T = {t}")
    if len(grids) > 1:
        save_comparison_grid([g[:20] for g in grids.values()], out / "samples_T0_3_5.png",
                             titles=[f"T = {t}" for t in grids])
    table = aggregate(runs, config.latent_steps)
    return CsganLatentStepsResult(config, out, runs, table, real, classifier.test_accuracy,
                                  time.perf_counter() - start)


def latent_steps_table(table):
    """The T × variant table (mean ± std over seeds) from :func:`aggregate` rows. Variant: the latent
    objective (per-example or batch-mean) and the anchor of the movement penalty (z0 or proj(z0))."""
    lines = ["| T | variant (objective, penalty anchor) | seeds | IS (↑) | FID (↓) | learned step size | train s / model |",
             "|---|---|---|---|---|---|---|"]
    for r in table:
        lines.append(f"| {r['latent_steps']} | {r.get('variant', '–')} | {r['seeds']} | {r['inception_score']:.2f} ± "
                     f"{r['inception_score_std']:.2f} | {r['fid']:.1f} ± {r['fid_std']:.1f} | "
                     f"{r['learned_step_size']:.4f} | {r['train_seconds']:.0f} |")
    return "\n".join(lines)


def doc_latent_steps_table(results):
    """The table of ``docs/results/csgan_latent_steps.md`` from a run's ``results.json``."""
    return latent_steps_table(results["table"])


def _latent_steps_markdown(result):
    config, table, runs, real, seconds = result.config, result.table, result.runs, result.real, result.wall_time_s
    lines = [
        "# CS-GAN: latent optimisation steps T = 0 / 3 / 5 on embedded MNIST", "",
        f"{config.generator.upper()} generator (z = {config.latent_dim}) and {config.discriminator.upper()} "
        f"discriminator (2 logits), Adam "
        f"({config.learning_rate}, β1 0.5, β2 0.999), batch {config.batch_size}, {config.steps} steps (1 D + 1 G "
        f"update each; {config.steps * config.batch_size / config.train_images:.0f} epochs of {config.train_images} "
        f"digits), optimisation-cost weight {config.optimisation_cost_weight}, initial step size {config.step_size}; "
        f"{len(config.seeds)} seeds. Scores: the project's MNIST classifier (IS from its probabilities, FID from "
        f"its 256-d features against the 1,000 embedded test digits), {config.eval_samples} samples per model "
        f"drawn with the same latent optimisation. T = 0 is a vanilla GAN. Wall time {seconds / 60:.1f} min.", "",
        latent_steps_table(table),
    ]
    lines += ["", f"Reference, real digits (the {real['n']} first training digits against the test digits): "
              f"IS {real['inception_score']:.2f}, FID {real['fid']:.1f}.", "",
              "## Every run", "",
              markdown_table(runs, ["latent_steps", "variant", "seed", "inception_score", "fid", "learned_step_size",
                                    "d_loss", "g_error", "train_seconds"]), "",
              "The paper reports Fig. 3 (samples) for MNIST and IS/FID on CIFAR-10 only (Fig. 4, Table 4: "
              "CS-GAN better than the T = 0 GAN in both, with less variance across hyper-parameters).", ""]
    return "\n".join(lines)


def write_csgan_latent_steps_report(result):
    """Writes ``scores.csv`` (one row per run), ``table.md`` and ``results.json``; returns the Markdown."""
    out = result.out
    write_csv([{k: v for k, v in r.items() if k != "history"} for r in result.runs], out / "scores.csv")
    summary = _latent_steps_markdown(result)
    (out / "table.md").write_text(summary)
    write_json({"settings": dataclasses.asdict(result.config), "machine": machine_description(),
                "wall_time_s": result.wall_time_s, "table": result.table, "runs": result.runs,
                "real_data": result.real, "classifier_test_accuracy": result.classifier_test_accuracy},
               out / "results.json")
    return summary


# ------------------------------------------------------------------------------------ CS-SGAN
@dataclasses.dataclass
class CsSganConfig:
    """Settings (the flags of ``recipes.cs_sgan``, same names).

    Attributes:
        steps: training steps (1 classifier + 1 generator update each).
        labelled_fraction: fraction of each digit's training images that keep their label.
        latent_steps: latent gradient steps T.
        batch_size, learning_rate: training (Adam, β1 0.5, for C and G).
        latent_dim: size of z.
        generator: ``"mlp-bn"`` or ``"mlp"`` (:func:`make_generator`).
        optimisation_cost_weight: β of β·‖ẑ − z0‖².
        step_size: initial latent step size (learned).
        latent_objective, penalty_anchor: the CS-GAN variant (see :class:`~ambient_dcs.models.CSGAN`).
        tsne_samples: samples in the t-SNE plot.
        samples_per_class: columns of the class-conditional grid.
        eval_samples: samples for the conditional accuracy and IS / FID.
        classifier_epochs: epochs of the cached independent MNIST classifier.
        train_images: training digits used.
        log_every: training steps per progress line (and checkpoint).
        seed: seed of the networks, labels kept, data order and latents.
        strategy, precision: recorded with the settings (the strategy object is an argument of :func:`cs_sgan`).
        out: output folder.
    """

    steps: int = 3000
    labelled_fraction: float = 0.1
    latent_steps: int = 3
    batch_size: int = 64
    learning_rate: float = 2e-4
    latent_dim: int = 100
    generator: str = "mlp-bn"
    optimisation_cost_weight: float = 3.0
    step_size: float = 0.01
    latent_objective: str = "per-example"
    penalty_anchor: str = "projected"
    tsne_samples: int = 2000
    samples_per_class: int = 10
    eval_samples: int = 2000
    classifier_epochs: int = 20
    train_images: int = 4000
    log_every: int = 500
    seed: int = 0
    strategy: str = "default"
    precision: str = "float32"
    out: str = "results/cs_sgan"


@dataclasses.dataclass
class CsSganResult:
    """Attributes: config; out; n_labelled, n_unlabelled (training digits); accuracy (the classifier's
    test accuracy); conditional (samples for k judged k by the independent classifier) and per_class;
    scores (IS / FID); step_size (learned); purity (t-SNE 10-NN class agreement per panel); tsne_points;
    history; train_seconds; wall_time_s."""

    config: CsSganConfig
    out: pathlib.Path
    n_labelled: int
    n_unlabelled: int
    accuracy: float
    conditional: float
    per_class: list
    scores: dict
    step_size: float
    purity: dict
    tsne_points: int
    history: dict
    train_seconds: float
    wall_time_s: float


def cluster_purity(emb, classes, neighbours=10):
    """Fraction of each point's nearest neighbours (in the t-SNE map) that share its class."""
    d = ((emb[:, None, :] - emb[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    nearest = np.argsort(d, axis=1)[:, :neighbours]
    return float(np.mean(classes[nearest] == classes[:, None]))


def cs_sgan(config, strategy=None):
    """Trains the CS-SGAN and evaluates it; prints the plan with the expected time, then the results.

    Writes ``samples_by_class.png`` (row k: samples optimised toward digit k), ``tsne.png`` and
    ``latents.npz`` (z0, ẑ, classes) as it goes.

    Returns:
        A :class:`CsSganResult` (summary by :func:`write_cs_sgan_report`).
    """
    out = prepare_output_dir(config.out)
    estimate = _SGAN_SECONDS_PER_STEP * (1 + 0.15 * (config.latent_steps - 3)) * config.steps + 60
    print(f"CS-SGAN: {config.steps} steps, {config.labelled_fraction:.0%} of the labels, T = {config.latent_steps}. "
          f"Expect about {estimate / 60:.0f} min on a 2-core CPU (more if it is shared). Writing to {out}/",
          flush=True)
    start = time.perf_counter()
    x_train, y_train = load_dataset("mnist-embedded", "train", with_labels=True)
    x_train, y_train = x_train[: config.train_images], y_train[: config.train_images]
    x_test, y_test = load_dataset("mnist-embedded", "test", with_labels=True)
    labels = hide_labels(y_train, config.labelled_fraction, seed=config.seed, num_classes=K)
    n_labelled = int(np.sum(labels >= 0))
    print(f"{n_labelled} labelled and {len(labels) - n_labelled} unlabelled training digits", flush=True)

    with (strategy or tf.distribute.get_strategy()).scope():
        sgan = CSSGAN(make_generator(config.generator, config.latent_dim, 2 * config.seed),
                      mlp_discriminator(IMAGE_SHAPE, outputs=K + 1, seed=2 * config.seed + 1),
                      latent_steps=config.latent_steps, optimisation_cost_weight=config.optimisation_cost_weight,
                      step_size=config.step_size, latent_objective=config.latent_objective,
                      penalty_anchor=config.penalty_anchor, seed=config.seed)
        sgan.compile(g_optimizer=_adam(config.learning_rate), d_optimizer=_adam(config.learning_rate))
    data = as_tf_dataset(x_train, labels, batch_size=config.batch_size, seed=config.seed, repeat=True,
                         drop_remainder=True)
    settings = _training_settings(config, ("tsne_samples", "samples_per_class", "eval_samples", "classifier_epochs",
                                           "log_every", "out"))
    history, _ = train_run(sgan, data, steps=config.steps, run_dir=out / "cs_sgan_training", settings=settings,
                           log_every=config.log_every, seed=config.seed)
    train_seconds = time.perf_counter() - start

    accuracy = sgan.test_accuracy(x_test, y_test)
    print(f"CS-SGAN classifier test accuracy: {accuracy:.4f} ({n_labelled} labels)", flush=True)

    grid_classes = np.repeat(np.arange(K), config.samples_per_class)
    grid = sgan.sample(len(grid_classes), classes=grid_classes, seed=config.seed + 1)
    save_image_grid(grid, out / "samples_by_class.png", ncols=config.samples_per_class,
                    title="CS-SGAN samples, row k: latents optimised toward digit k")

    evaluation = sgan.sample_with_latents(config.eval_samples, classes=np.arange(config.eval_samples) % K,
                                          seed=config.seed + 2)
    judge = mnist_classifier(epochs=config.classifier_epochs)
    judged = judge.predict(evaluation["images"])
    conditional = float(np.mean(judged == evaluation["classes"]))
    per_class = [float(np.mean(judged[evaluation["classes"] == k] == k)) for k in range(K)]
    scores = classifier_scores(evaluation["images"], judge, x_test)
    print(f"samples for digit k recognised as k by the independent classifier: {conditional:.3f}; "
          f"IS {scores['inception_score']:.2f}, FID {scores['fid']:.1f}", flush=True)

    n = min(config.tsne_samples, config.eval_samples)
    pick = np.random.default_rng(config.seed).permutation(config.eval_samples)[:n]
    z0 = evaluation["z0"][pick]
    z0 = z0 / np.linalg.norm(z0, axis=1, keepdims=True)  # the projected start of the latent optimisation
    z_hat, classes = evaluation["z"][pick], evaluation["classes"][pick]
    panels = [("initial latents z0 (projected)", z0), (f"optimised latents ẑ (T = {config.latent_steps})", z_hat)]
    embeddings = save_tsne(panels, classes, out / "tsne.png", config.seed)
    purity = {title: cluster_purity(emb, classes) for title, emb in embeddings.items()}
    np.savez_compressed(out / "latents.npz", z0=evaluation["z0"], z=evaluation["z"], classes=evaluation["classes"])
    return CsSganResult(config, out, n_labelled, len(labels) - n_labelled, accuracy, conditional, per_class, scores,
                        sgan.step_size(), purity, n, history, train_seconds, time.perf_counter() - start)


def write_cs_sgan_report(result):
    """Writes ``summary.md`` and ``results.json``; returns the Markdown."""
    config, seconds = result.config, result.wall_time_s
    rows = [{"quantity": "classifier test accuracy (1,000 embedded test digits)", "value": result.accuracy},
            {"quantity": "samples for digit k judged k by the independent MNIST classifier", "value": result.conditional},
            {"quantity": "IS of the samples (MNIST classifier)", "value": result.scores["inception_score"]},
            {"quantity": "FID of the samples (MNIST classifier features, vs test digits)", "value": result.scores["fid"]},
            {"quantity": "learned latent step size", "value": result.step_size}]
    rows += [{"quantity": f"t-SNE 10-NN class agreement, {title}", "value": v} for title, v in result.purity.items()]
    n_train = result.n_labelled + result.n_unlabelled
    summary = "\n".join([
        "# CS-SGAN on embedded MNIST (Wu et al. 2019, §4.3, Fig. 5)", "",
        f"{config.generator.upper()} generator (z = {config.latent_dim}) and MLP classifier with {K + 1} outputs; "
        f"{result.n_labelled} labelled ({config.labelled_fraction:.0%} per digit) and {result.n_unlabelled} unlabelled "
        f"training digits; T = {config.latent_steps} latent steps ({config.latent_objective} objective, penalty "
        f"anchored at {'z0' if config.penalty_anchor == 'initial' else 'proj(z0)'}), optimisation-cost weight "
        f"{config.optimisation_cost_weight}; Adam ({config.learning_rate}, β1 0.5), batch {config.batch_size}, "
        f"{config.steps} steps ({config.steps * config.batch_size / n_train:.0f} epochs). Training "
        f"{result.train_seconds / 60:.1f} min, whole run {seconds / 60:.1f} min.", "",
        markdown_table(rows, ["quantity", "value"]), "",
        "Per digit, samples judged as their class: " + ", ".join(f"{k}: {v:.2f}" for k, v in enumerate(result.per_class))
        + ".", "",
        "Figures: `samples_by_class.png` (row k: samples optimised toward digit k), `tsne.png` (t-SNE of "
        f"{result.tsne_points} initial and optimised latents, coloured by target digit). The paper gives no number "
        "for CS-SGAN, only Fig. 5 (samples and a t-SNE whose latents form one region per digit).", ""])
    (result.out / "summary.md").write_text(summary)
    write_json({"settings": dataclasses.asdict(config), "machine": machine_description(), "wall_time_s": seconds,
                "train_seconds": result.train_seconds, "test_accuracy": result.accuracy, "labelled": result.n_labelled,
                "conditional_accuracy": result.conditional, "per_class_conditional_accuracy": result.per_class,
                "scores": result.scores, "tsne_neighbour_agreement": result.purity,
                "learned_step_size": result.step_size, "history": result.history}, result.out / "results.json")
    return summary
