"""Dagster wiring for the publishing stage."""
