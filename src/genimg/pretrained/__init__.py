"""Data only: the pretrained models shipped inside the package, one folder per model, and
``index.json`` (name -> files with their SHA-256, test figures, the command that retrains it).

Nothing here is imported: ``genimg.runs.pretrained`` reads the files with importlib.resources,
and ``benchmarks/reproduce_pretrained.py ship NAME`` writes them. ``classifiers/`` holds the
built-in datasets' classifiers behind FID (``genimg.evaluate.classifier.shipped`` reads them,
``benchmarks/reproduce_classifiers.py ship NAME`` writes them).
"""
