"""Dagster wiring for the data stage."""
