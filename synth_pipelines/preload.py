"""Modules the forkserver imports once, so each step process starts with torch, SDV and Dagster loaded."""

import dagster  # noqa: F401
import pandas  # noqa: F401
import pyarrow.parquet  # noqa: F401
import sdv.single_table  # noqa: F401
import torch  # noqa: F401

import synth_pipelines.definitions  # noqa: F401
from synth_pipelines.cli import synthesize_job_def

# Build the job once in the forkserver: each forked step finds it built.
synthesize_job_def()
