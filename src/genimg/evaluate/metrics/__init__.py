"""Metrics, one concept per file, each with its functional twin: sample quality on features and
class probabilities (``inception_score``, ``fid``, ``kid``, ``precision_recall``) and recovery
quality on image pairs (MSE, RMSE and PSNR in ``image_scores``, ``ssim``, streamed together by
``recovery_metrics``).

Each metric says whether a higher value is better (``higher_is_better`` on the class, or
``HIGHER_IS_BETTER`` beside the function); ``genimg.evaluate.directions`` collects them for the report.

Every metric is a streaming object with ``update(real=..., fake=...)``, ``compute()`` and
``reset()`` (batches go in, the numbers come out at the end) and a plain function on whole
tensors that runs the same code. The inputs are what a feature extractor produced: class
probabilities (N, K) for the Inception Score, feature vectors (N, d) for the others.
Which extractor made them (the dataset's own classifier or Inception-v3) is the caller's
business and should be reported beside the scores.

Memory, by metric:

- ``InceptionScore``: O(splits x K): per split, the sum of probabilities and of p log p.
- ``FID``: O(d^2): per side, the count, mean and centred sum of outer products in float64
  (2048-d features: 32 MiB a side), however many samples are seen.
- ``KID`` and ``PrecisionRecall`` need the samples themselves, as the definitions work on
  pairs of samples: they keep the features in float32, 4 N d bytes a side (10,000 2048-d
  features: 78 MiB a side). ``max_samples`` bounds this: beyond it a uniform random subset
  of that size is kept (reservoir sampling, seeded), and the result is computed on it.
  Their pairwise computations run in blocks so that no N x N matrix is ever built.

Agreement with the references is tested on the same inputs: FID and KID against
torchmetrics, the Fréchet distance against pytorch-fid's scipy ``sqrtm`` formula, IS
against exp(E KL) computed independently, precision/recall against a brute-force
implementation of Kynkäänniemi et al. (2019).
"""
