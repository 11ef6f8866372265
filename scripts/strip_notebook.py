"""Strip what running a notebook adds before it is committed: outputs, execution counts, the
per-cell timings Jupyter and nbclient record, and the kernel's version details.

    python scripts/strip_notebook.py docs/lecture.ipynb           # strip in place
    python scripts/strip_notebook.py --check docs/lecture.ipynb   # exit 1 if it has any to strip

tests/test_notebook.py fails when docs/lecture.ipynb is committed with outputs and names this
script in its message.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

CELL_KEYS = ("execution", "ExecuteTime", "collapsed", "scrolled")  # added by running or viewing


def strip(notebook: nbformat.NotebookNode) -> bool:
    """Strip ``notebook`` in place; return whether anything changed."""
    changed = False
    for cell in notebook.cells:
        for key in CELL_KEYS:
            if key in cell.metadata:
                del cell.metadata[key]
                changed = True
        if cell.cell_type == "code":
            if cell.outputs or cell.execution_count is not None:
                changed = True
            cell.outputs, cell.execution_count = [], None
    language = notebook.metadata.get("language_info")
    if language is not None and set(language) != {"name"}:
        notebook.metadata["language_info"] = {"name": language.get("name", "python")}
        changed = True
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a notebook has outputs")
    args = parser.parse_args(argv)
    dirty = []
    for path in args.notebooks:
        notebook = nbformat.read(path, as_version=4)
        if strip(notebook):
            dirty.append(path)
            if not args.check:
                nbformat.write(notebook, path)
    for path in dirty:
        print(f"{path}: {'has outputs to strip' if args.check else 'stripped'}")
    return 1 if args.check and dirty else 0


if __name__ == "__main__":
    sys.exit(main())
