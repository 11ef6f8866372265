"""The comparison report: one self-contained HTML page, rebuilt from run directories alone.

``build_report(paths)`` takes sweep directories and/or single run directories and writes
``report.html`` with ``report.csv`` (the metrics table in full precision) beside it. The page
says whether the variants trained at equal compute, defines each sweep, shows one metrics table
(a row per variant, mean ± sample std over seeds, best values highlighted, one set of columns
per feature extractor, a likelihood estimate apart from the bounds), FID against training
CPU-minutes for every run, and per swept parameter each metric against its values with one
sentence per effect tested against the seed noise, the sample grids side by side and the
learning curves; then every other picture the runs hold. What a family cannot have is left out
and said once. It prints to PDF from a browser (A4 landscape).

Modules, in the order the data flows: ``collect`` (run directories into records, groups and
rows), ``table`` (columns, cells, HTML and CSV), ``effects`` (the test, its sentences and
figures), ``figures`` (pictures and plots) and ``page`` (the page and its prose).
"""

from genimg.experiments.report.page import build_report

__all__ = ["build_report"]
