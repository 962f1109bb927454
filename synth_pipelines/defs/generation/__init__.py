"""Dagster wiring for the generation stage."""
