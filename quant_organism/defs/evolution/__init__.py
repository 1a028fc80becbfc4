"""Dagster definitions of the evolution domain (loaded by definitions.py through load_from_defs_folder)."""
