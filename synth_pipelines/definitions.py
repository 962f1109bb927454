"""The code location: the defs/ folder, plus the executor and resources, merged once."""

import os

import dagster as dg

from synth_pipelines import defs as defs_package
from synth_pipelines.core.settings import Settings
from synth_pipelines.executors import build_executor
from synth_pipelines.resources import build_resources


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions.merge(
        dg.load_definitions_from_package_module(defs_package),
        dg.Definitions(
            resources=build_resources(Settings.from_env(), os.environ.get("SYNTH_DEVICE", "auto")),
            executor=build_executor(),
        ),
    )
