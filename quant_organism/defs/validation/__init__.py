"""Dagster definitions of the validation domain (loaded by definitions.py through load_from_defs_folder)."""
