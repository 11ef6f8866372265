"""Model families behind one protocol (``base.py``), one package per family.

This ``__init__`` imports nothing, so that a family's ``config.py`` can be read without torch.
"""
