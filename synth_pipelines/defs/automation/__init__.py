"""Dagster wiring for schedules: standing requests and retention."""
