"""synth_pipelines: synthetic tabular data as a service, orchestrated by Dagster."""

__version__ = "0.1.0"
