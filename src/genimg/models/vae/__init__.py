"""The variational auto-encoder family: ``config.py`` (no torch), ``model.py`` (the model and its
latent space), ``networks.py``, ``decoders.py``, ``prior.py``."""
