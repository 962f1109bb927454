"""The code location: the defs/ folder, plus the executor and the resources, merged once."""

import warnings

import dagster as dg

from synth_pipelines import defs as defs_package
from synth_pipelines.executors import build_executor
from synth_pipelines.resources import build_resources
from synth_pipelines.settings import Settings


def build_defs(settings: Settings, s3=None) -> dg.Definitions:
    """The whole code location for one configuration (tests pass their own `Settings`)."""
    with warnings.catch_warnings():
        # Loading defs/ by package is a preview API: said once here, not in every run's and step's log.
        warnings.simplefilter("ignore", dg.PreviewWarning)
        loaded = dg.load_definitions_from_package_module(defs_package)
    return dg.Definitions.merge(
        loaded, dg.Definitions(resources=build_resources(settings, s3), executor=build_executor())
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_defs(Settings.from_env())
