"""Metrics: pixel errors of reconstructions, sample quality (IS / FID under an offline MNIST classifier or
InceptionV3), the classifier itself, and the calibration of K reconstructions per image."""

from .calibration import posterior_coverage
from .classifiers import MnistClassifier, mnist_classifier
from .pixels import (per_image_l2_error, per_image_squared_error, per_pixel_mse, psnr, reconstruction_summary, ssim,
                     summarize)
from .quality import classifier_scores, frechet_distance, gaussian_statistics, inception_score, inception_v3_scores

__all__ = ["per_image_squared_error", "per_image_l2_error", "posterior_coverage", "per_pixel_mse", "psnr", "ssim",
           "summarize", "reconstruction_summary", "inception_score", "gaussian_statistics", "frechet_distance",
           "MnistClassifier", "mnist_classifier", "classifier_scores", "inception_v3_scores"]
