"""Dagster definitions of the deployment domain (loaded by definitions.py through load_from_defs_folder)."""
