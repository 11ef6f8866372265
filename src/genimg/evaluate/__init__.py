"""Evaluation: how good a trained model is, read back from its run directory.

Sample quality (IS, FID, KID, precision/recall) and recovery quality (MSE, RMSE, PSNR, SSIM) are
in ``metrics``, computed on the outputs of a pluggable feature extractor (the dataset's own
classifier, or Inception-v3); test log-likelihood bounds come from the family's own bound;
``evaluator`` puts them together for a run (``genimg evaluate``, and FID during training).
Each module's docstring says what it holds.
"""
