"""Evaluation: reconstruction errors, PSNR / SSIM, classifier IS / FID."""

from .metrics import (MnistClassifier, classifier_scores, frechet_distance, gaussian_statistics, inception_score,
                      inception_v3_scores, mnist_classifier, per_image_l2_error, per_image_squared_error, per_pixel_mse,
                      posterior_coverage,
                      psnr, reconstruction_summary, ssim, summarize)

__all__ = ["per_image_squared_error", "per_image_l2_error", "posterior_coverage", "per_pixel_mse", "psnr", "ssim", "summarize",
           "reconstruction_summary",
           "inception_score", "gaussian_statistics", "frechet_distance", "MnistClassifier", "mnist_classifier",
           "classifier_scores", "inception_v3_scores"]
