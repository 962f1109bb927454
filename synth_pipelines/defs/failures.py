"""How a step says no: one failure text and metadata for every refusal (the field, what is allowed)."""

import dagster as dg

from synth_pipelines.core.request import RequestError


def refused(what: str, error: RequestError) -> dg.Failure:
    """`<what> refused: <field>: <problem>` with the problems as metadata, for the run page and notifications."""
    return dg.Failure(f"{what} refused: {error}", metadata=error.to_dict())
