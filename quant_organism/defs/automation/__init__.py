"""Dagster definitions of the automation domain (loaded by definitions.py through load_from_defs_folder)."""
