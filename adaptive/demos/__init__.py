"""Demos of the adaptive package (run by `make demo`) and the simulated plant they use."""
