"""Collectors turn the outside world into Samples and nothing else."""
