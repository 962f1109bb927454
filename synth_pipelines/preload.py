"""Modules the forkserver imports once, so each step process starts with torch, SDV and Dagster loaded.

Besides the libraries and the built job, a step process opens the Dagster instance (its
storage classes, SQLAlchemy dialects, alembic's migration checks, the compute-log watcher,
the UPath IO manager): imported lazily, those cost each step a fraction of a second before
it starts (`benchmarks/chunk_costs.py` measures it). Only modules are imported here, never
an instance: a forked connection would be shared.
"""

import dagster  # noqa: F401
import pandas  # noqa: F401
import pyarrow.parquet  # noqa: F401
import sdv.single_table  # noqa: F401
import torch  # noqa: F401

import synth_pipelines.definitions  # noqa: F401
from synth_pipelines.cli import synthesize_job_def
from synth_pipelines.executors import import_instance_modules

import_instance_modules()

# Build the job once in the forkserver: each forked step finds it built.
synthesize_job_def()
