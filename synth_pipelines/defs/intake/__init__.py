"""Dagster wiring for the intake stage."""
