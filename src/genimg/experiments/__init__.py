"""Sweeps over config parameters and the HTML report that compares runs."""
