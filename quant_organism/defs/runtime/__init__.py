"""Dagster definitions of the runtime domain (loaded by definitions.py through load_from_defs_folder)."""
