"""Dagster definitions of the shared domain (loaded by definitions.py through load_from_defs_folder)."""
