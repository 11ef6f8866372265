"""The comparison report: one self-contained HTML page, rebuilt from run directories alone.

``build_report(paths)`` takes sweep directories (``sweep.json`` beside their runs) and/or
single run directories, and writes ``report.html`` with ``report.csv`` beside it:

- the sweep definition (parameters, values, base values, base overrides, seeds, evaluation);
- one metrics table, one row per variant (mean ± sample std over seeds): test NLL bound,
  FID, KID, IS with its sharpness S and diversity D, precision, recall, training time and
  parameter count. The best value of each column is highlighted (lower or higher is better
  per column, as ``genimg.evaluate.directions`` says); missing values read "—". Scores made
  through different feature extractors are never put in one column: each extractor gets its
  own columns and the page says so;
- per swept parameter: overlaid learning curves, sample grids and reconstructions side by
  side, and a paragraph generated from the numbers (direction and size of every change;
  with seeds, whether the change is within one std);
- every other picture the runs hold (explore/, recover/, outliers/ ...), found by walking
  the run directories.

The modules, in the order the data flows: ``records`` (one run's numbers), ``collect`` (runs
and sweeps into groups and rows), ``metrics`` and ``table`` (the columns and the cells),
``formatting`` and ``table_output`` (HTML and CSV), ``prose`` (the paragraphs), ``curves``
and ``pictures``, ``sections`` and ``page`` (the HTML). A sweep is read through
``genimg.experiments.sweep.definition`` only, so the report loads without the sweep's runner.
"""

from genimg.experiments.report.page import build_report

__all__ = ["build_report"]
