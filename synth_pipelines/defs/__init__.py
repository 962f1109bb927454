"""Dagster wiring, one folder per pipeline stage; no domain logic lives here."""
