"""The code location: the defs/ folder, plus the executor and the resources, merged once."""

import dagster as dg

from synth_pipelines import defs as defs_package
from synth_pipelines.executors import build_executor
from synth_pipelines.resources import build_resources
from synth_pipelines.settings import Settings


def build_defs(settings: Settings, s3=None) -> dg.Definitions:
    """The whole code location for one configuration (tests pass their own `Settings`)."""
    return dg.Definitions.merge(
        dg.load_definitions_from_package_module(defs_package),
        dg.Definitions(resources=build_resources(settings, s3), executor=build_executor()),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_defs(Settings.from_env())
