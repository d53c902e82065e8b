"""Sparse-recovery baselines with the same call shape as CSGM: Lasso, OMP, least squares, classical inverses.

Lasso and OMP solve for coefficients ``c`` of the image in a basis ``Ψ`` (``x = Ψ c``: pixels, the
orthonormal 2-D DCT, or an orthonormal wavelet) with scikit-learn, on the effective matrix
``A Ψ`` built column by column from the operator's ``forward``. For a deterministic operator that
matrix is built once and every image is solved in one multi-target fit; a random operator has a
matrix per image (its θ), built per image.

The Lasso objective is ``½‖y − AΨc‖² + α‖c‖₁`` (the CSGM paper's; scikit-learn's ``alpha`` is
``α / m``, with ``m`` the number of measurement entries, so ``α`` keeps its meaning across ``m``).
Coordinate descent is slow for a small ``α`` (an exactly sparse image, few measurements): images
whose fit stops at ``max_iter`` short of scikit-learn's duality-gap tolerance are solved again along
a decreasing path of ``α`` (warm starts, as glmnet), and a ``ConvergenceWarning`` says so if even
that falls short.

All of them are :class:`~ambient_dcs.reconstruction.base.Reconstructor` s: ``reconstruct(y, theta)``
and ``reconstruct_file(path, out_dir)``, ``batch_size`` images at a time.

Example:
    >>> op = measurements.GaussianProjection(200, seed=0, image_shape=(28, 28, 1))
    >>> y, theta = op.measure(x_test)
    >>> rec = Lasso(op, basis="dct", alpha=0.1).reconstruct(y, theta)
"""

from __future__ import annotations

import functools
import os
import sys
import warnings

import numpy as np
import pywt
import scipy.fft
import sklearn.exceptions
import sklearn.linear_model
import tensorflow as tf

import measurements
from measurements.validation import check_int

from .base import Reconstructor
from .result import Reconstruction, measurement_error

BASES = ("pixel", "dct", "wavelet")


@functools.lru_cache(maxsize=8)
def synthesis_matrix(basis, image_shape, wavelet="db1"):
    """``Ψ`` as an ``(n, n)`` array whose column ``i`` is the image of coefficient vector ``e_i``.

    ``"dct"``: the orthonormal 2-D DCT-II per channel (``scipy.fft.idctn(norm="ortho")``).
    ``"wavelet"``: PyWavelets' 2-D transform per channel, ``mode="periodization"`` with as many
    levels as halve H and W exactly (orthonormal for orthogonal wavelets such as ``db1``/Haar).
    ``"pixel"``: the identity.
    """
    h, w, c = image_shape
    n = h * w * c
    units = np.eye(n).reshape(n, h, w, c)
    if basis == "pixel":
        return np.eye(n)
    if basis == "dct":
        return scipy.fft.idctn(units, axes=(1, 2), norm="ortho").reshape(n, n).T
    if basis == "wavelet":
        level = 0
        while h % 2 ** (level + 1) == 0 and w % 2 ** (level + 1) == 0 and level < pywt.dwt_max_level(min(h, w), wavelet):
            level += 1
        template = pywt.wavedec2(np.zeros((h, w)), wavelet, mode="periodization", level=level)
        _, slices = pywt.coeffs_to_array(template)
        columns = np.empty((n, n))
        for i, unit in enumerate(units):
            for ch in range(c):
                coeffs = pywt.array_to_coeffs(unit[:, :, ch], slices, output_format="wavedec2")
                columns[i, ch::c] = pywt.waverec2(coeffs, wavelet, mode="periodization").reshape(-1)
        return columns.T
    raise ValueError(f"expected basis in {BASES}; received {basis!r}.")


def operator_matrix(operator, theta, image_shape):
    """The operator's ``forward`` as explicit matrices ``(N, m, n)`` (one per θ row; N = 1 if fixed)."""
    n = int(np.prod(image_shape))
    units = tf.reshape(tf.eye(n, dtype=tf.float64), (n, *image_shape))
    if not theta:
        columns = operator.forward(units, {})
        return tf.reshape(tf.cast(columns, tf.float64), (1, n, -1)).numpy().transpose(0, 2, 1)
    rows = next(iter(theta.values())).shape[0]
    mats = []
    for i in range(rows):  # a random operator: one matrix per image
        theta_i = {k: tf.repeat(v[i:i + 1], n, axis=0) for k, v in theta.items()}
        mats.append(tf.reshape(tf.cast(operator.forward(units, theta_i), tf.float64), (n, -1)).numpy().T)
    return np.stack(mats)


class _SparseRecovery(Reconstructor):
    """Shared machinery: validation, effective matrices, solving, packing the result."""

    name = "sparse"

    def __init__(self, operator, basis="pixel", wavelet="db1", image_shape=None, batch_size=256):
        if basis not in BASES:
            raise ValueError(f"{type(self).__name__}: expected basis in {BASES}; received {basis!r}.")
        if not operator.is_linear:
            raise ValueError(f"{type(self).__name__}: needs a linear operator; {type(operator).__name__} is not.")
        self.operator = operator
        self.basis = basis
        self.wavelet = wavelet
        self.image_shape = _image_shape(self, image_shape)
        self.batch_size = _batch_size(self, batch_size)
        self._fixed_matrix = None

    def _solver(self, m):
        raise NotImplementedError

    def _prepare(self, mats, psi, targets, y, theta):
        """Hook run on the first batch of a reconstruction, before solving (e.g. to choose a
        regularisation weight from the data)."""

    def _fit(self, mat, targets):
        """Coefficients ``(T, n)`` of ``targets`` ``(T, m)`` for one effective matrix ``(m, n)``."""
        return np.atleast_2d(self._solver(mat.shape[0]).fit(mat, targets.T).coef_)

    def _solve(self, mats, psi, targets, warn=True):
        """Coefficients ``(N, n)`` and clipped images ``(N, H, W, C)`` for effective matrices ``mats``."""
        with warnings.catch_warnings():
            if not warn:
                warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)
            if mats.shape[0] == 1:  # one matrix: every image in one multi-target fit
                coef = self._fit(mats[0], targets)
            else:  # a matrix per image (random operator): rows of zeros (dropped pixels) only add a
                # constant to ½‖y − AΨc‖², so they are left out of the fit: same minimiser, a smaller problem
                coef = np.concatenate([self._fit_rows(mat, t) for mat, t in zip(mats, targets)])
        x = np.clip(coef @ psi.T, 0.0, 1.0).reshape(-1, *self.image_shape).astype(np.float32)
        return coef, x

    def _fit_rows(self, mat, target):
        rows = np.any(mat != 0, axis=1)
        if not rows.any():
            return np.zeros((1, mat.shape[1]))
        return self._fit(mat[rows], target[rows][None])

    def _effective(self, theta):
        psi = synthesis_matrix(self.basis, self.image_shape, self.wavelet)
        if not self.operator.is_random:
            if self._fixed_matrix is None:  # once per operator, not per image
                self._fixed_matrix = operator_matrix(self.operator, {}, self.image_shape)[0] @ psi
            return self._fixed_matrix[None], psi
        return operator_matrix(self.operator, theta, self.image_shape) @ psi, psi

    def _begin(self, n):
        return {"prepared": False}

    def _reconstruct_batch(self, y, theta, state):
        targets = tf.reshape(tf.cast(y, tf.float64), (y.shape[0], -1)).numpy()
        mats, psi = self._effective(theta)
        if not state["prepared"]:
            self._prepare(mats, psi, targets, y, theta)
            state["prepared"] = True
        coef, x = self._solve(mats, psi, targets)
        return Reconstruction(x=x, z=coef.astype(np.float32), measurement_error=measurement_error(self.operator, x, y, theta))


class Lasso(_SparseRecovery):
    """``min_c ½‖y − AΨc‖² + α‖c‖₁`` with scikit-learn's coordinate descent, ``x = Ψ c`` clipped to [0, 1].

    Every image is first solved directly (one multi-target fit for a fixed operator). Images whose
    fit ran ``max_iter`` sweeps without reaching scikit-learn's stopping rule (duality gap
    ``<= tol · ‖y‖² / m`` in its scaling, ``tol · ‖y‖²`` in ours) are solved again along a
    geometric path of α from ``max|Ψᵀ Aᵀ y|`` (where ``c = 0``) down to α, ``path_per_decade``
    values per decade, each fit warm-started from the previous one; the path's last fit is kept
    where its gap is smaller. This is the regime of a small α: exactly 10-sparse 28 × 28 images
    from 150 Gaussian measurements with α = 1e-4 are recovered to relative errors ≤ 0.015 (≤ 5e-4
    with ``tol=1e-7``) instead of 0.5–0.7 after 2000 direct sweeps (8 images: 2.2 s instead of
    1.7 s on the 2-core CPU); images that converge directly (the MNIST runs of
    ``recipes.csgm_vs_lasso``, α = 0.1) are solved as before (to 3e-8), in the same time.
    Images still above the tolerance raise one ``sklearn.exceptions.ConvergenceWarning`` (per fit:
    per batch for a fixed operator, per image for a random one) with their number and the largest
    gap reached; ``dual_gap_`` holds the last fit's gaps (in ``½‖r‖² + α‖c‖₁`` units).

    Args:
        operator: a linear operator.
        basis: ``"pixel"``, ``"dct"`` or ``"wavelet"``.
        alpha: the ℓ₁ weight α (paper, MNIST pixel basis: 0.1), or ``"discrepancy"``: the largest α
            of ``alpha_grid`` whose reconstructions leave a residual ``‖y − A x̂‖²`` no larger than the
            noise's expected ``m σ²`` (Morozov's discrepancy principle; averaged over up to
            ``discrepancy_images`` of the first batch's measurements; needs ``noise_std`` or the
            operator's ``GaussianNoise``); the α with the smallest residual if none does. It needs no
            ground truth. The chosen value is ``alpha_``.
        wavelet: PyWavelets name for ``basis="wavelet"`` (default ``"db1"``, Haar).
        image_shape: ``(H, W, C)``; defaults to the operator's.
        max_iter: coordinate-descent sweeps per fit.
        tol: scikit-learn's duality-gap tolerance (its default, 1e-4, as the original CSGM).
        noise_std: σ of the measurement noise for ``alpha="discrepancy"`` (default: the operator's).
        path_per_decade: α values per decade of the warm-started path for images that did not
            converge directly (0: no path, only the warning).
        batch_size: images per fit (and per block read by ``reconstruct_file``).
    """

    ALPHA_GRID = (0.003, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 2.0, 5.0)

    def __init__(self, operator, basis="pixel", alpha=0.1, wavelet="db1", image_shape=None, max_iter=2000, tol=1e-4,
                 noise_std=None, alpha_grid=ALPHA_GRID, discrepancy_images=32, path_per_decade=5, batch_size=256):
        super().__init__(operator, basis, wavelet, image_shape, batch_size)
        if alpha == "discrepancy":
            if noise_std is None:
                noise_std = getattr(operator.noise, "std", None) if operator.noise is not None else None
            if noise_std is None or not noise_std > 0:
                raise ValueError(f"Lasso: alpha='discrepancy' needs the noise level: pass noise_std= or give "
                                 f"{type(operator).__name__} a GaussianNoise with std > 0; received noise_std={noise_std!r}.")
            self.alpha = alpha
        else:
            self.alpha = float(alpha)
            if not self.alpha >= 0:
                raise ValueError(f"Lasso: expected alpha >= 0 or 'discrepancy'; received {alpha!r}.")
        path_per_decade = check_int(path_per_decade, "Lasso", "path_per_decade", 0)
        self.alpha_ = None if self.alpha == "discrepancy" else self.alpha
        self.noise_std = None if noise_std is None else float(noise_std)
        self.alpha_grid = tuple(sorted(float(a) for a in alpha_grid))
        self.discrepancy_images = int(discrepancy_images)
        self.max_iter = int(max_iter)
        self.tol = float(tol)
        self.path_per_decade = int(path_per_decade)
        self.dual_gap_ = None

    def _solver(self, m, alpha=None, warm_start=False):
        alpha = self.alpha_ if alpha is None else alpha
        return sklearn.linear_model.Lasso(alpha=alpha / m, fit_intercept=False, max_iter=self.max_iter,
                                          tol=self.tol, warm_start=warm_start)

    def _fit(self, mat, targets):
        """Direct fit; the warm-started α path for targets that stopped short; one warning for any left."""
        m = mat.shape[0]
        with warnings.catch_warnings():  # one summary warning below instead of one per image
            warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)
            solver = self._solver(m).fit(mat, targets.T)
        coef = np.atleast_2d(solver.coef_).copy()
        gaps = np.atleast_1d(solver.dual_gap_) * m              # in units of ½‖r‖² + α‖c‖₁
        limits = self.tol * np.sum(targets**2, axis=1)           # scikit-learn's stopping rule
        short = np.flatnonzero(gaps > limits)
        if len(short) and self.path_per_decade and self.alpha_ > 0:
            path_coef, path_gaps = self._path(mat, targets[short])
            better = path_gaps < gaps[short]
            coef[short[better]], gaps[short[better]] = path_coef[better], path_gaps[better]
            short = np.flatnonzero(gaps > limits)
        self.dual_gap_ = gaps
        if len(short):
            worst = short[np.argmax(gaps[short] / np.maximum(limits[short], 1e-300))]
            warnings.warn(
                f"Lasso: coordinate descent did not converge for {len(short)} of {len(targets)} image(s) "
                f"(α = {self.alpha_:g}, max_iter = {self.max_iter}): duality gap up to {gaps[worst]:.3g} against a "
                f"tolerance of {limits[worst]:.3g} (tol · ‖y‖²). Raise max_iter or tol, or α.",
                sklearn.exceptions.ConvergenceWarning, stacklevel=_stacklevel_outside_package())
        return coef

    def _path(self, mat, targets):
        """Coefficients and gaps at α after a warm-started geometric path from where ``c = 0``."""
        m = mat.shape[0]
        start = max(float(np.abs(targets @ mat).max()), self.alpha_)  # ‖Aᵀy‖∞: c = 0 for any larger α
        count = int(np.ceil(np.log10(start / self.alpha_) * self.path_per_decade))
        solver = self._solver(m, warm_start=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)
            for alpha in np.geomspace(start, self.alpha_, count + 1)[1:] if count else [self.alpha_]:
                solver.set_params(alpha=alpha / m).fit(mat, targets.T)
        return np.atleast_2d(solver.coef_), np.atleast_1d(solver.dual_gap_) * m

    def _prepare(self, mats, psi, targets, y, theta):
        if self.alpha != "discrepancy":
            return
        k = min(len(targets), self.discrepancy_images)
        sub_mats = mats if mats.shape[0] == 1 else mats[:k]
        sub_theta = {key: v[:k] for key, v in theta.items()}
        target = targets.shape[1] * self.noise_std**2          # E‖η‖² = m σ²
        residuals = {}
        # From the largest α down: the first that fits to the noise level is the largest that does.
        # (Scanning up and stopping at the first miss would trip on tiny α, where coordinate
        # descent stops before convergence and the residual is not monotonic.)
        for alpha in reversed(self.alpha_grid):
            self.alpha_ = alpha
            _, x = self._solve(sub_mats, psi, targets[:k], warn=False)
            residuals[alpha] = measurement_error(self.operator, x, y[:k], sub_theta).mean()
            if residuals[alpha] <= target:
                return
        self.alpha_ = min(residuals, key=residuals.get)   # nothing fits the noise: the closest fit


class OMP(_SparseRecovery):
    """Orthogonal matching pursuit with ``sparsity`` non-zero coefficients in the basis."""

    def __init__(self, operator, basis="pixel", sparsity=50, wavelet="db1", image_shape=None, batch_size=256):
        super().__init__(operator, basis, wavelet, image_shape, batch_size)
        self.sparsity = check_int(sparsity, "OMP", "sparsity", 1)

    def _solver(self, m):
        return sklearn.linear_model.OrthogonalMatchingPursuit(n_nonzero_coefs=min(self.sparsity, m), fit_intercept=False)


class LeastSquares(Reconstructor):
    """The minimum-norm least-squares solution ``A⁺ y`` (the operator's ``pseudo_inverse``), clipped to [0, 1].

    Args:
        operator: a linear operator.
        image_shape: ``(H, W, C)``; defaults to the operator's.
        batch_size: images per conjugate-gradient solve (and per block read by ``reconstruct_file``).
    """

    def __init__(self, operator, image_shape=None, batch_size=256):
        if not operator.is_linear:
            raise ValueError(f"LeastSquares: needs a linear operator; {type(operator).__name__} is not.")
        self.operator = operator
        self.image_shape = _image_shape(self, image_shape, required=False)
        self.batch_size = _batch_size(self, batch_size)

    def _reconstruct_batch(self, y, theta, state):
        x = np.clip(self.operator.pseudo_inverse(y, theta).numpy(), 0, 1).astype(np.float32)
        return Reconstruction(x=x, measurement_error=measurement_error(self.operator, x, y, theta))


class ClassicalInverse(Reconstructor):
    """A classical "unmeasure" inverse (``measurements.unmeasure``) with the call shape of CSGM.

    Wiener deconvolution for blur + noise, blur fill for pixel drops, biharmonic inpainting for
    masks, the pseudo-inverse for linear operators: estimates that need no training, the first
    thing a user without a prior would try.

    Args:
        operator: the operator that produced the measurements.
        method: ``"auto"`` or a name of ``measurements.unmeasure`` (``measurements.available_methods(op)``
            lists those that fit).
        image_shape: ``(H, W, C)``; defaults to the operator's.
        batch_size: images per call of ``unmeasure`` (and per block read by ``reconstruct_file``).

    Example:
        >>> rec = ClassicalInverse(op, "inpaint").reconstruct(y, theta)
    """

    def __init__(self, operator, method="auto", image_shape=None, batch_size=256):
        fitting = measurements.available_methods(operator)
        if not fitting:
            raise ValueError(f"ClassicalInverse: no classical inverse fits {type(operator).__name__}.")
        if method != "auto" and method not in fitting:
            raise ValueError(f"ClassicalInverse: method {method!r} does not fit {type(operator).__name__}; "
                             f"expected one of {fitting}.")
        self.operator = operator
        self.method = fitting[0] if method == "auto" else method
        self.image_shape = _image_shape(self, image_shape, required=False)
        self.batch_size = _batch_size(self, batch_size)

    def _reconstruct_batch(self, y, theta, state):
        x = np.asarray(measurements.unmeasure(self.operator, y, theta or None, method=self.method), np.float32)
        return Reconstruction(x=x, measurement_error=measurement_error(self.operator, x, y, theta))


def _stacklevel_outside_package():
    """``stacklevel`` for a warning raised by the caller: the first frame outside this package (the user's call)."""
    package = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.dirname(os.path.abspath(frame.f_code.co_filename)) == package:
        frame, level = frame.f_back, level + 1
    return level


def _image_shape(owner, image_shape, required=True):
    """The given image shape, else the operator's; ``None`` (taken from ``y`` when it has the shape
    of images) only where not ``required``."""
    shape = tuple(image_shape) if image_shape is not None else owner.operator.image_shape
    if shape is None:
        if not required:
            return None
        raise ValueError(f"{type(owner).__name__}: the image shape is unknown; pass image_shape=(H, W, C).")
    return tuple(int(d) for d in shape)


def _batch_size(owner, batch_size):
    return check_int(batch_size, type(owner).__name__, "batch_size", 1)
