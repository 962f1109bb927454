"""The code location: the defs/ folder, plus the executor and resources, merged once."""

import os

import dagster as dg

from synth_pipelines import defs as defs_package
from synth_pipelines.resources import build_resources
from synth_pipelines.settings import Settings


def executor() -> dg.ExecutorDefinition:
    # forkserver with preloaded modules: a chunk step forks from a warm process instead of
    # re-importing torch and SDV (seconds each) in a fresh interpreter.
    return dg.multiprocess_executor.configured(
        {
            "max_concurrent": int(os.environ.get("SYNTH_MAX_CONCURRENT", "0")) or os.cpu_count() or 1,
            "start_method": {"forkserver": {"preload_modules": ["synth_pipelines.preload"]}},
        }
    )


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions.merge(
        dg.load_definitions_from_package_module(defs_package),
        dg.Definitions(
            resources=build_resources(Settings.from_env(), os.environ.get("SYNTH_DEVICE", "auto")), executor=executor()
        ),
    )
