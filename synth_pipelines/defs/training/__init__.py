"""Dagster wiring for the training stage."""
