"""Dagster layer: the organism memory across runs."""
