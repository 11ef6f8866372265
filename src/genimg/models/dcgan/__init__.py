"""The DCGAN family: ``config.py`` (no torch), ``model.py``, ``networks.py``, ``latent.py``."""
