"""Dagster wiring for the quality stage."""
