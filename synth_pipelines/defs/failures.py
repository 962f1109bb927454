"""How a step says no: one failure text and metadata for every refusal (the field, what is allowed)."""

import dagster as dg

from synth_pipelines.core.request import RequestError


def refused(what: str, error: RequestError) -> dg.Failure:
    """`<what> refused: <field>: <problem>` with the problems as metadata, for the run page and notifications."""
    return dg.Failure(f"{what} refused: {error}", metadata=error.to_dict())


def step_error_text(error) -> str:
    """What a failed step raised, with its causes: Dagster wraps a step's exception (in an error naming only
    the op, or in "Exceeded max_retries of N" once its retries are spent), and the reason is in the cause."""
    if error.cls_name == "DagsterExecutionStepExecutionError" and error.cause is not None:
        error = error.cause
    text = error.message.strip()
    cause = error.cause
    while cause is not None:
        message = cause.message.strip()
        if message and message not in text:
            text += f" (caused by {message})"
        cause = cause.cause
    return text
