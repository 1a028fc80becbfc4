"""Dagster definitions of the market domain (loaded by definitions.py through load_from_defs_folder)."""
