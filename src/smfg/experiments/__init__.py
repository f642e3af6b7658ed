"""Runs, caches and simulations built on the environment (the layer above policies/algos)."""
