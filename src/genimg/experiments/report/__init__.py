"""The comparison report: one self-contained HTML page, rebuilt from run directories alone.

``build_report(paths)`` takes sweep directories (``sweep.json`` beside their runs) and/or
single run directories, and writes ``report.html`` with ``report.csv`` beside it:

- the sweep definition (parameters, values, base values, base overrides, seeds, evaluation);
- one metrics table, one row per variant (mean ± sample std over seeds): test NLL bound in
  bits/dim, FID, FID/floor, KID, IS with its sharpness S and diversity D, precision, recall,
  class entropy, training time, CPU-minutes and parameter count. The best value of each column
  is highlighted (lower or higher is better per column, as ``genimg.evaluate.directions`` says);
  missing values read "—". Scores made through different feature extractors are never put in
  one column: each extractor gets its own columns and the page says so. report.csv holds the
  same table in full precision, with the std and the number of runs behind each mean;
- per swept parameter (the homework: "change parameters, examine the difference"): each metric
  plotted against the parameter's values, one sentence per metric on the direction and size of
  the effect and whether it exceeds the seed-to-seed noise (``effects`` says which test and
  why), the sample grids and reconstructions side by side in the plot's order, and the learning
  curves. What a family cannot have (a GAN's reconstructions or likelihood) is left out and said
  once, never shown as an empty cell;
- every other picture the runs hold (explore/, recover/, outliers/ ...), found by walking
  the run directories.

The page prints to PDF from a browser (A4 landscape, ``report.css``'s print rules).

The modules, in the order the data flows: ``records`` (one run's numbers), ``collect`` (runs
and sweeps into groups and rows), ``metrics`` and ``table`` (the columns and the cells),
``formatting`` and ``table_output`` (HTML and CSV), ``effects`` (the test), ``effect_text`` and
``effect_plots`` (its sentences and figures), ``omissions``, ``prose`` (runs without a sweep),
``curves`` and ``pictures``, ``parameter_section``, ``sections`` and ``page`` (the HTML). A
sweep is read through ``genimg.experiments.sweep.definition`` only, so the report loads without
the sweep's runner.
"""

from genimg.experiments.report.page import build_report

__all__ = ["build_report"]
