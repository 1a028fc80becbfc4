"""Plots and reports that people would rather see than read."""
