"""Dagster layer: research workflows as jobs."""
