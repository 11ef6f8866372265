"""Evaluation: recovery metrics, sample-quality metrics, feature extractors, likelihoods.

Modules: ``recovery`` (MSE/RMSE/PSNR/SSIM), ``quality`` (IS, FID, KID, precision/recall as
streaming objects and functions), ``features`` (pluggable extractors: dataset classifier,
inception-v3), ``likelihood`` (test log-likelihood bounds), ``evaluator`` (everything a run
is scored with, and `genimg evaluate`).
"""
