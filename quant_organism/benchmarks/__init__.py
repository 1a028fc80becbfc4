"""Benchmarks run by `python -m quant_organism.benchmarks`."""
