"""Modules the forkserver imports once, so each step process starts with torch, SDV and Dagster loaded.

Besides the libraries and the built job, a step process opens the Dagster instance (its
storage classes, SQLAlchemy dialects, alembic's migration checks, the compute-log watcher,
the UPath IO manager): imported lazily, those cost each step ~0.3 s before it starts. Only
modules are imported here, never an instance: a forked connection would be shared.
"""

import importlib

import dagster  # noqa: F401
import pandas  # noqa: F401
import pyarrow.parquet  # noqa: F401
import sdv.single_table  # noqa: F401
import torch  # noqa: F401

import synth_pipelines.definitions  # noqa: F401
from synth_pipelines.cli import synthesize_job_def

INSTANCE_MODULES = (
    "alembic.command",
    "alembic.config",
    "alembic.autogenerate",
    "alembic.runtime.migration",
    "sqlalchemy.dialects.sqlite",
    "sqlalchemy.dialects.postgresql",
    "dagster._core.instance.factory",
    "dagster._core.storage.sql",
    "dagster._core.storage.sqlite_storage",
    "dagster._core.storage.runs.sqlite",
    "dagster._core.storage.event_log.sqlite",
    "dagster._core.storage.schedules.sqlite",
    "dagster._core.storage.local_compute_log_manager",
    "dagster._core.storage.upath_io_manager",
    "dagster._core.workspace.context",
    "dagster._core.scheduler.instigation",
    "dagster._core.snap",
    "dagster._core.secrets.env_file",
    "dagster._core.storage.migration.utils",
    "dagster._core.storage.root",
    "dagster._core.utility_ops",
    "dagster._core.system_config.composite_descent",
    "dagster._utils.temp_file",
    "fsspec.implementations.local",
    "upath.implementations.local",
    "zstandard",
    "watchdog.observers",
    "dagster_postgres",
)

for name in INSTANCE_MODULES:
    try:
        importlib.import_module(name)
    except ImportError:  # an optional storage this deployment does not use
        pass

# Build the job once in the forkserver: each forked step finds it built.
synthesize_job_def()
