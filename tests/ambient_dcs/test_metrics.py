"""Tests for ambient_dcs.metrics: reconstruction errors, IS, Fréchet distance, the MNIST classifier, calibration."""

import json
import math
import os
import stat

import keras
import numpy as np
import pytest
import scipy.linalg
import tensorflow as tf
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from ambient_dcs import metrics
from ambient_dcs.metrics import classifiers, quality
from ambient_dcs.data.datasets import load_dataset


def _random_spd(rng, d):
    a = rng.standard_normal((d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


def _fid_sqrtm(mu1, s1, mu2, s2):
    """The textbook formula with scipy's general matrix square root of Σ1·Σ2."""
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean.real))


# --------------------------------------------------------------------------- #
# Fréchet distance                                                            #
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("d", [5, 12, 20])
def test_frechet_distance_matches_scipy_sqrtm(d):
    rng = np.random.default_rng(d)
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    s1, s2 = _random_spd(rng, d), _random_spd(rng, d)
    expected = _fid_sqrtm(mu1, s1, mu2, s2)
    assert metrics.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9, abs=1e-10)
    # Symmetric in its two Gaussians.
    assert metrics.frechet_distance(mu2, s2, mu1, s1) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_special_cases():
    rng = np.random.default_rng(0)
    d = 10
    mu, s = rng.standard_normal(d), _random_spd(rng, d)
    assert metrics.frechet_distance(mu, s, mu, s) == pytest.approx(0.0, abs=1e-10)
    shift = rng.standard_normal(d)
    assert metrics.frechet_distance(mu, s, mu + shift, s) == pytest.approx(shift @ shift, rel=1e-10)
    # Diagonal covariances: closed form Σ (√a − √b)².
    a, b = rng.uniform(0.1, 3, d), rng.uniform(0.1, 3, d)
    closed = float(np.sum((np.sqrt(a) - np.sqrt(b)) ** 2) + shift @ shift)
    assert metrics.frechet_distance(mu, np.diag(a), mu + shift, np.diag(b)) == pytest.approx(closed, rel=1e-12)
    # One dimension: (μ1 − μ2)² + (σ1 − σ2)²; scalars are accepted.
    assert metrics.frechet_distance(1.0, 4.0, 3.0, 9.0) == pytest.approx(4.0 + 1.0)
    # Singular (rank-deficient) covariances, as with dead ReLU features: still real and exact.
    u = rng.standard_normal((d, 3))
    singular = u @ u.T
    assert metrics.frechet_distance(mu, singular, mu, singular) == pytest.approx(0.0, abs=1e-8)
    p = np.diag([1.0, 0.0, 4.0])
    q = np.diag([0.0, 9.0, 1.0])
    assert metrics.frechet_distance(np.zeros(3), p, np.zeros(3), q) == pytest.approx(1 + 9 + 1)


def test_gaussian_statistics_mean_and_unbiased_covariance():
    rng = np.random.default_rng(1)
    features = rng.standard_normal((50, 6)).astype(np.float32)
    mu, sigma = metrics.gaussian_statistics(features)
    assert mu.dtype == np.float64 and sigma.shape == (6, 6)
    f64 = features.astype(np.float64)
    np.testing.assert_allclose(mu, f64.mean(0), rtol=1e-12)
    centred = f64 - f64.mean(0)
    np.testing.assert_allclose(sigma, centred.T @ centred / 49, rtol=1e-10)


@pytest.mark.parametrize(
    "args, match",
    [
        ((np.zeros(3), np.eye(3), np.zeros(4), np.eye(3)), r"mu2 of shape \(3,\); got \(4,\)"),
        ((np.zeros(3), np.eye(2), np.zeros(3), np.eye(3)), r"sigma1 of shape \(3, 3\)"),
        ((np.zeros(2), np.array([[1.0, 2.0], [0.0, 1.0]]), np.zeros(2), np.eye(2)), "symmetric"),
        ((np.array([0.0, np.nan]), np.eye(2), np.zeros(2), np.eye(2)), "finite mu1"),
    ],
)
def test_frechet_distance_bad_inputs(args, match):
    with pytest.raises(ValueError, match=match):
        metrics.frechet_distance(*args)


def test_gaussian_statistics_bad_inputs():
    with pytest.raises(ValueError, match=r"\(N >= 2, F\); got shape \(1, 4\)"):
        metrics.gaussian_statistics(np.zeros((1, 4)))
    with pytest.raises(ValueError, match="finite"):
        metrics.gaussian_statistics(np.full((3, 2), np.inf))


# --------------------------------------------------------------------------- #
# Inception Score                                                             #
# --------------------------------------------------------------------------- #


def test_inception_score_known_values():
    k = 10
    assert metrics.inception_score(np.full((100, k), 1.0 / k)) == pytest.approx(1.0, abs=1e-12)
    one_hot = np.eye(k)[np.arange(200) % k]
    assert metrics.inception_score(one_hot) == pytest.approx(k, rel=1e-12)
    # Everything confidently in one class: 1.
    assert metrics.inception_score(np.eye(k)[np.zeros(50, int)]) == pytest.approx(1.0)
    # By hand: p(y) = (3/4, 1/4); KL = log(4/3) and ½ log(2/3) + ½ log 2 = ½ log(4/3).
    probs = np.array([[1.0, 0.0], [0.5, 0.5]], np.float32)
    assert metrics.inception_score(probs) == pytest.approx((4 / 3) ** 0.75, rel=1e-12)


def test_inception_score_splits():
    k = 4
    first = np.eye(k)[np.arange(40) % k]  # IS 4
    second = np.full((40, k), 1.0 / k)  # IS 1
    mean, std = metrics.inception_score(np.concatenate([first, second]), splits=2)
    assert (mean, std) == (pytest.approx(2.5), pytest.approx(1.5))
    mean, std = metrics.inception_score(first, splits=1)
    assert mean == pytest.approx(4.0) and std == 0.0


@pytest.mark.parametrize(
    "probs, kwargs, match",
    [
        (np.ones(10) / 10, {}, r"shape \(N, K\); got shape \(10,\)"),
        (np.array([[2.0, -1.0]]), {}, "non-negative"),
        (np.array([[3.0, 1.0]]), {}, "sum to 1"),
        (np.array([[np.nan, 1.0]]), {}, "finite"),
        (np.eye(3), {"splits": 4}, r"splits must be an integer in \[1, N=3\]"),
    ],
)
def test_inception_score_bad_inputs(probs, kwargs, match):
    with pytest.raises(ValueError, match=match):
        metrics.inception_score(probs, **kwargs)


# --------------------------------------------------------------------------- #
# Reconstruction metrics                                                      #
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def image_pair():
    rng = np.random.default_rng(2)
    x = rng.random((4, 28, 28, 1)).astype(np.float32)
    x_hat = np.clip(x + 0.1 * rng.standard_normal(x.shape), 0, 1).astype(np.float32)
    return x_hat, x


def test_squared_error_and_mse_match_numpy(image_pair):
    x_hat, x = image_pair
    diff = x_hat.astype(np.float64) - x
    err = metrics.per_image_squared_error(tf.constant(x_hat), x)  # tensors are accepted
    assert isinstance(err, np.ndarray) and err.shape == (4,)
    np.testing.assert_allclose(err, (diff**2).sum(axis=(1, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(metrics.per_pixel_mse(x_hat, x), err / 784, rtol=1e-12)
    # Known value: 0.5 off everywhere on a 4x4x2 image -> 32 · 0.25.
    z = np.zeros((1, 4, 4, 2), np.float32)
    assert metrics.per_image_squared_error(z + 0.5, z)[0] == pytest.approx(8.0)
    assert metrics.per_pixel_mse(z + 0.5, z)[0] == pytest.approx(0.25)


def test_psnr_matches_skimage_and_known_mse(image_pair):
    x_hat, x = image_pair
    ours = metrics.psnr(x_hat, x)
    assert ours.shape == (4,)
    ref = [peak_signal_noise_ratio(x[i], x_hat[i], data_range=1.0) for i in range(4)]
    np.testing.assert_allclose(ours, ref, rtol=1e-5)  # TF works in float32
    z = np.zeros((2, 28, 28, 1), np.float32)
    np.testing.assert_allclose(metrics.psnr(z + 0.1, z), 20.0, rtol=1e-5)  # MSE 0.01 -> 20 dB
    assert np.all(np.isinf(metrics.psnr(x, x)))


def test_ssim_matches_skimage(image_pair):
    x_hat, x = image_pair
    ours = metrics.ssim(x_hat, x)
    # skimage with TF's settings: 11x11 Gaussian window (σ 1.5, truncate 3.5 -> radius 5),
    # population covariances, 'valid' border. Agreement is to float32 rounding (~1e-7);
    # 1e-5 leaves room for other BLAS/filter implementations.
    ref = [
        structural_similarity(x[i], x_hat[i], data_range=1.0, channel_axis=-1, gaussian_weights=True,
                              sigma=1.5, use_sample_covariance=False)
        for i in range(4)
    ]
    np.testing.assert_allclose(ours, ref, atol=1e-5)
    np.testing.assert_allclose(metrics.ssim(x, x), 1.0, atol=1e-6)
    small = np.random.default_rng(3).random((2, 8, 8, 1)).astype(np.float32)
    with pytest.raises(ValueError, match=r"at least 11x11 pixels.*got 8x8"):
        metrics.ssim(small, small)
    np.testing.assert_allclose(metrics.ssim(small, small, filter_size=5), 1.0, atol=1e-6)


@pytest.mark.parametrize("fn", [metrics.per_image_squared_error, metrics.per_pixel_mse, metrics.psnr, metrics.ssim])
def test_reconstruction_metrics_bad_inputs(fn):
    x = np.zeros((2, 28, 28, 1), np.float32)
    with pytest.raises(ValueError, match=r"same shape; got x_hat \(2, 28, 28, 1\) and x \(3, 28, 28, 1\)"):
        fn(x, np.zeros((3, 28, 28, 1), np.float32))
    with pytest.raises(ValueError, match=r"rank-4 array \(N, H, W, C\); got shape \(28, 28\)"):
        fn(x[0, ..., 0], x[0, ..., 0])
    with pytest.raises(ValueError, match="finite"):
        fn(x + np.nan, x)
    with pytest.raises(ValueError, match="float images .* got dtype uint8"):
        fn(x.astype(np.uint8), x)


def test_summarize():
    s = metrics.summarize([1.0, 2.0, 3.0, 4.0])
    std = math.sqrt(5 / 3)  # sample standard deviation
    assert s == {"mean": 2.5, "std": pytest.approx(std), "ci95": pytest.approx(1.96 * std / 2), "n": 4}
    one = metrics.summarize(np.array([7.0]))
    assert one["mean"] == 7.0 and one["n"] == 1 and math.isnan(one["std"]) and math.isnan(one["ci95"])
    with pytest.raises(ValueError, match="at least one value"):
        metrics.summarize([])


# --------------------------------------------------------------------------- #
# The MNIST classifier and classifier scores                                  #
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def tiny_classifier(tmp_path_factory):
    """One epoch of training, cached in a temporary AMBIENT_DCS_CACHE."""
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AMBIENT_DCS_CACHE", str(cache))
        clf = metrics.mnist_classifier(epochs=1, seed=0, verbose=0)
    return clf, cache


@pytest.mark.slow  # 14.1 s
def test_mnist_classifier_trains_caches_and_reloads(tiny_classifier, monkeypatch):
    clf, cache = tiny_classifier
    model_path, info_path = cache / "mnist_classifier_e1_s0.keras", cache / "mnist_classifier_e1_s0.json"
    assert sorted(p.name for p in cache.iterdir()) == [info_path.name, model_path.name]  # no temp files left
    assert clf.path == model_path
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(model_path.stat().st_mode) == 0o666 & ~umask  # not mkstemp's 0600
    assert 0.8 < clf.test_accuracy <= 1.0
    info = json.loads(info_path.read_text())
    assert info["test_accuracy"] == clf.test_accuracy and info["epochs"] == 1 and info["seed"] == 0

    x = load_dataset("mnist-embedded", "test")[:64]
    probs, features = clf.predict_proba(x), clf.features(x)
    assert probs.shape == (64, 10) and features.shape == (64, 256)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert features.min() >= 0.0  # ReLU activations

    # The second call loads from the cache instead of training.
    def no_training(*args, **kwargs):
        raise AssertionError("should have loaded from the cache")

    monkeypatch.setenv("AMBIENT_DCS_CACHE", str(cache))
    monkeypatch.setattr(classifiers, "_build_classifier", no_training)
    again = metrics.mnist_classifier(epochs=1, seed=0, verbose=0)
    assert again.path == model_path and again.test_accuracy == clf.test_accuracy
    np.testing.assert_allclose(again.predict_proba(x), probs, atol=1e-6)


def test_unusable_cache_is_ignored(tmp_path):
    model_path, info_path = tmp_path / "m.keras", tmp_path / "m.json"
    model_path.write_bytes(b"not a keras file")
    info_path.write_text(json.dumps({"format": classifiers._CLASSIFIER_FORMAT, "test_accuracy": 0.9}))
    assert classifiers._load_cached(model_path, info_path, 1, 0, verbose=0) is None
    info_path.write_text(json.dumps({"format": -1, "test_accuracy": 0.9}))
    assert classifiers._load_cached(model_path, info_path, 1, 0, verbose=0) is None
    info_path.write_text("{truncated")
    assert classifiers._load_cached(model_path, info_path, 1, 0, verbose=0) is None
    info_path.write_text(json.dumps({"format": classifiers._CLASSIFIER_FORMAT}))
    assert classifiers._load_cached(model_path, info_path, 1, 0, verbose=0) is None


def test_classifier_scores_rank_real_digits_above_noise(tiny_classifier):
    clf, _ = tiny_classifier
    real = load_dataset("mnist-embedded", "test")[:500]
    reference = load_dataset("mnist-embedded", "train")[:1000]
    noise = np.random.default_rng(4).random((500, 28, 28, 1)).astype(np.float32)
    good = metrics.classifier_scores(real, clf, reference)
    bad = metrics.classifier_scores(noise, clf, reference, splits=5)
    assert set(good) == {"inception_score", "fid", "n", "n_reference"}
    assert good["n"] == 500 and good["n_reference"] == 1000
    assert set(bad) == {"inception_score", "inception_score_std", "fid", "n", "n_reference"}
    assert good["inception_score"] > 5.0 > bad["inception_score"] >= 1.0
    assert 0.0 <= good["fid"] < 0.2 * bad["fid"]


@pytest.mark.parametrize(
    "images, match",
    [
        (np.zeros((4, 32, 32, 1), np.float32), r"\(N >= 2, 28, 28, 1\) in \[0, 1\]; got shape \(4, 32, 32, 1\)"),
        (np.zeros((1, 28, 28, 1), np.float32), r"got shape \(1, 28, 28, 1\)"),
        (np.full((4, 28, 28, 1), 255.0, np.float32), r"in \[0, 1\]; got min 255, max 255"),
        (np.full((4, 28, 28, 1), np.nan, np.float32), "finite"),
        (np.zeros((4, 28, 28, 1), np.uint8), "divide 0..255 integer images by 255"),
    ],
)
def test_classifier_bad_inputs(tiny_classifier, images, match):
    clf, _ = tiny_classifier
    good = np.zeros((4, 28, 28, 1), np.float32)
    with pytest.raises(ValueError, match="images: expected .*" + match):
        metrics.classifier_scores(images, clf, good)
    with pytest.raises(ValueError, match="reference_images: expected .*" + match):
        metrics.classifier_scores(good, clf, images)
    if len(images) > 1:  # a single image is fine for predict_proba
        with pytest.raises(ValueError, match="expected"):
            clf.predict_proba(images)


@pytest.mark.parametrize("kwargs", [{"epochs": 0}, {"epochs": 1.5}, {"seed": -1}])
def test_mnist_classifier_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="mnist_classifier: expected (epochs|seed) to be an integer"):
        metrics.mnist_classifier(**kwargs)


# --------------------------------------------------------------------------- #
# InceptionV3                                                                 #
# --------------------------------------------------------------------------- #


def test_inception_v3_offline_error(monkeypatch):
    def offline(*args, **kwargs):
        raise Exception("URL fetch failure: [Errno -2] Name or service not known")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    x = np.zeros((4, 32, 32, 3), np.float32)
    with pytest.raises(RuntimeError, match="could not be downloaded") as info:
        metrics.inception_v3_scores(x, x)
    message = str(info.value)
    assert "~/.keras/models/" in message and "MNIST classifier metrics" in message and "offline" in message
    assert isinstance(info.value.__cause__, Exception)


def test_inception_v3_validates_before_downloading():
    with pytest.raises(ValueError, match=r"\(N >= 2, H, W, 1 or 3\) in \[0, 1\]; got shape \(4, 32, 32, 2\)"):
        metrics.inception_v3_scores(np.zeros((4, 32, 32, 2), np.float32), np.zeros((4, 32, 32, 3), np.float32))


@pytest.mark.slow  # 8.3 s
def test_inception_v3_pipeline_with_random_weights(monkeypatch):
    """The resize / preprocess / IS / FID plumbing, with untrained weights instead of ImageNet's."""
    monkeypatch.setattr(quality, "_inception_weights", lambda: None)
    # Two 2048x2048 float64 eigendecompositions take seconds; frechet_distance is tested above.
    seen = []
    monkeypatch.setattr(quality, "frechet_distance", lambda *stats: seen.append(stats) or 1.25)
    probs_seen = []
    real_is = metrics.inception_score
    monkeypatch.setattr(quality, "inception_score", lambda p, **kw: probs_seen.append((np.asarray(p), kw)) or real_is(p, **kw))
    rng = np.random.default_rng(5)
    grey = rng.random((4, 28, 28, 1)).astype(np.float32)
    rgb = rng.random((3, 32, 32, 3)).astype(np.float32)
    scores = metrics.inception_v3_scores(grey, rgb, splits=2, batch_size=3)
    assert set(scores) == {"inception_score", "inception_score_std", "fid", "n", "n_reference"}
    assert scores["n"] == 4 and scores["n_reference"] == 3 and scores["fid"] == 1.25
    # The IS is computed from the 1000-way softmax of every image (rows summing to 1), split in 2.
    [(probs, kw)] = probs_seen
    assert probs.shape == (4, 1000) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-4) and kw == {"splits": 2}
    halves = [np.exp(np.mean(np.sum(q * (np.log(q) - np.log(q.mean(0))), axis=1))) for q in (probs[:2], probs[2:])]
    assert scores["inception_score"] == pytest.approx(np.mean(halves), rel=1e-4)
    assert scores["inception_score_std"] == pytest.approx(np.std(halves), rel=1e-3, abs=1e-6)
    [(mu1, sigma1, mu2, sigma2)] = seen  # pool_3 statistics of the images and of the reference
    assert mu1.shape == mu2.shape == (2048,) and sigma1.shape == sigma2.shape == (2048, 2048)


def test_posterior_coverage_of_a_calibrated_posterior_matches_student_t():
    # Truth and K samples drawn from the same Gaussian per pixel: the measured coverage is the
    # Student-t value (independent of the closed form: a Monte Carlo check), and over-confident
    # samples (half the spread) cover less.
    from ambient_dcs.metrics import posterior_coverage

    rng = np.random.default_rng(0)
    centre, spread = rng.uniform(0.3, 0.7, (400, 6, 6, 1)), rng.uniform(0.05, 0.2, (400, 6, 6, 1))
    truth = centre + spread * rng.standard_normal(centre.shape)
    samples = centre[:, None] + spread[:, None] * rng.standard_normal((400, 8, 6, 6, 1))
    result = posterior_coverage(truth, samples)
    assert abs(result["calibrated"] - 0.879) < 0.002
    assert abs(result["coverage"] - result["calibrated"]) < 0.01
    narrow = posterior_coverage(truth, centre[:, None] + 0.5 * (samples - centre[:, None]))["coverage"]
    assert narrow < result["coverage"] - 0.2
    with pytest.raises(ValueError, match="K >= 2"):
        posterior_coverage(truth, samples[:, :1])
