"""The diffusion family, in pieces as diffusers separates them: ``config.py`` (no torch),
``schedules.py``, ``unet.py``, ``samplers.py``, ``likelihood.py``, composed in ``model.py``;
``denoiser.py`` and ``latent.py`` are its capabilities.

This package's ``__init__`` imports nothing, so reading a config never imports torch.
"""
