"""The job that runs the whole graph for one request partition."""

import dagster as dg

from .partitions import requests_partitions

SYNTHESIS_ASSETS = dg.AssetSelection.groups("synthesis")

synthesize_job = dg.define_asset_job(
    "synthesize",
    selection=SYNTHESIS_ASSETS,
    partitions_def=requests_partitions,
    description="Load, profile, validate, train, generate, export, score and publish one request",
)
