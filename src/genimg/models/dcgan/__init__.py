"""The DCGAN family: ``config.py`` (no torch), ``model.py`` (the model and its latent space), ``networks.py``."""
