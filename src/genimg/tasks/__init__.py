"""Things done with trained models: latent exploration, inverse problems (recovery), outlier detection."""
