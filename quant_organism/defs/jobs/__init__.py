"""Dagster definitions of the jobs domain (loaded by definitions.py through load_from_defs_folder)."""
