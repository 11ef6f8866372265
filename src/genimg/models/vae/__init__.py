"""The variational auto-encoder family: ``config.py`` (no torch), ``model.py``, ``networks.py``, ``latent.py``."""
