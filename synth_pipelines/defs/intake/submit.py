"""submit_request: a new request launched from the UI's form, filed into the request store like a dropped file.

The job's run config is the request itself, typed: `RequestConfig` and its nested classes are
`dg.Config` classes generated from the pydantic request model (`SynthesisRequest`), field by
field, with its defaults and descriptions, so the launchpad scaffolds the form and checks each
type and choice before a run exists. A config mapping turns that form into the filing op's
config, and is where the whole contract is checked (ranges, the rules between fields,
templates): a request it refuses never becomes a run, and the refusal names the field.
Resources take no launch config (the mapping is the job's whole config schema), so the form
shows no server internals.

The op writes `incoming/<request_id>.json` (`incoming/<user>/<request_id>.json` when the deploy
signs identities: SYNTH_IDENTITY_SECRET; the run's signed identity must then be a requester's and
the request must name that user); the request_intake_sensor takes it from there, as for a dropped
file: it accepts the request once, makes its partition and starts its run (its run key stops a
second), or rejects it with the reason.
"""

import enum
import json
import types
from typing import Annotated, Any, Literal, Optional, Union, get_args, get_origin

import annotated_types
import dagster as dg
import pydantic
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from synth_pipelines.core.request import RequestError, SynthesisRequest, parse_request
from synth_pipelines.intake.identity import check_may_file, verified_identity
from synth_pipelines.intake.requests import check_request_context
from synth_pipelines.resources import DataSourceResource, RequestStoreResource

from ..failures import refused

_ENUMS: dict[str, type[enum.Enum]] = {}


def _choice(name: str, values: tuple[str, ...]) -> type[enum.Enum]:
    """A str Enum for a Literal: the launchpad offers its values, under a name such as OutputFormat."""
    if name not in _ENUMS:
        _ENUMS[name] = enum.Enum(name, {value: value for value in values}, type=str)  # type: ignore[misc]
    return _ENUMS[name]


def _config_type(annotation: Any, name: str) -> Any:
    """The dg.Config field type for a pydantic annotation: models become Config classes, Literals choices."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _config_type(get_args(annotation)[0], name)
    if origin is Literal:
        return _choice(name, get_args(annotation))
    if origin in (Union, types.UnionType):
        (inner,) = [arg for arg in get_args(annotation) if arg is not type(None)]
        return Optional[_config_type(inner, name)]  # noqa: UP045 (a runtime type expression)
    if origin is list:
        return list[_config_type(get_args(annotation)[0], name)]  # type: ignore[misc]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return config_class(annotation)
    return annotation


def _allowed(field: pydantic.fields.FieldInfo) -> str:
    """The range and length limits of a field, as the form shows them."""
    words = (
        (annotated_types.Ge, "ge", "at least {:,}"),
        (annotated_types.Gt, "gt", "above {:,}"),
        (annotated_types.Le, "le", "at most {:,}"),
        (annotated_types.Lt, "lt", "below {:,}"),
        (annotated_types.MinLen, "min_length", "at least {} characters"),
        (annotated_types.MaxLen, "max_length", "at most {} characters"),
    )
    parts = [
        word.format(getattr(limit, attr))
        for limit in field.metadata
        for kind, attr, word in words
        if isinstance(limit, kind)
    ]
    return f" (allowed: {', '.join(parts)})" if parts else ""


def _default(field: pydantic.fields.FieldInfo) -> Any:
    if field.default is not PydanticUndefined:
        return field.default
    if field.default_factory is None:
        return ...
    value = field.default_factory()  # type: ignore[call-arg]
    return config_class(type(value))() if isinstance(value, BaseModel) else value


_CLASSES: dict[type[BaseModel], type[dg.Config]] = {}


def config_class(model: type[BaseModel]) -> type[dg.Config]:
    """The dg.Config class mirroring a pydantic model: same fields, aliases, defaults and descriptions."""
    if model not in _CLASSES:
        fields: dict[str, Any] = {}
        title = model.__name__.removesuffix("Spec").removeprefix("Synthesis")
        for name, field in model.model_fields.items():
            description = (field.description or "") + _allowed(field)
            choice = title + "".join(part.title() for part in name.split("_"))  # e.g. OutputFormat
            fields[name] = (
                _config_type(field.annotation, choice),
                pydantic.Field(default=_default(field), alias=field.alias, description=description or None),
            )
        _CLASSES[model] = pydantic.create_model(  # type: ignore[call-overload]
            f"{title}Config", __base__=dg.Config, __doc__=model.__doc__, **fields
        )
    return _CLASSES[model]


RequestConfig = config_class(SynthesisRequest)


class RequestRefused(dg.DagsterError):
    """The form's request breaks the contract: raised before a run exists, one line per refused field."""


def request_from_config(values: dict[str, Any]) -> SynthesisRequest:
    """The request a filled-in form describes, or RequestRefused naming each refused field."""
    try:
        return parse_request(values)
    except RequestError as exc:
        raise RequestRefused(f"request refused: {exc}") from None


class FileRequestConfig(dg.Config):
    request_json: str = pydantic.Field(description="The request, checked by the form's config mapping")


def _request_fields(config: dict[str, Any]) -> dict[str, Any]:
    """The form (the request's fields) → the filing op's config; refuses a request that breaks the contract."""
    request = request_from_config(config)
    return {"ops": {"file_request": {"config": {"request_json": request.canonical_json()}}}}


# Unprocessed values: a text field given as {"env": NAME} reaches the request check as that dict
# (and is refused there), so a form can never read the server's environment into a request.
request_form = dg.ConfigMapping(
    config_fn=_request_fields, config_schema=RequestConfig.to_config_schema(), receive_processed_config_values=False
)


@dg.op
def file_request(
    context: dg.OpExecutionContext,
    config: FileRequestConfig,
    request_store: RequestStoreResource,
    data_source: DataSourceResource,
) -> dg.Output[str]:
    """Write the request into the store's incoming/; the intake sensor accepts it and starts its run."""
    request = parse_request(config.request_json)
    try:
        identity = verified_identity(context.run.tags, request_store.identity_secret)
        check_may_file(request.requester, identity)
        check_request_context(request, data_source.root)
    except RequestError as exc:
        raise refused(f"request {request.request_id!r}", exc) from None
    store = request_store.store()
    # Under the sender's own prefix: intake then checks the request names them (as for a dropped file).
    name = f"{request.request_id}.json" if identity is None else f"{identity.user}/{request.request_id}.json"
    taken = store.read_accepted(request.request_id) or store.read_standing(request.request_id)
    if taken is not None or name in store.incoming():
        where = "is waiting in incoming/" if taken is None else "is already accepted"
        error = RequestError([("request_id", f"{request.request_id!r} {where}; choose a new request_id")])
        raise refused(f"request {request.request_id!r}", error)
    store.put_incoming(name, json.dumps(request.model_dump(mode="json", by_alias=True), indent=2).encode())
    context.log.info(f"filed {name} in incoming/: the request_intake_sensor starts its run")
    return dg.Output(
        request.request_id,
        metadata={
            "request_id": request.request_id,
            "requester": request.requester,
            "filed": f"incoming/{name}",
            "next": "the request_intake_sensor accepts it and launches `synthesize` for partition "
            f"{request.request_id} (Runs, tag dagster/partition={request.request_id})",
        },
    )


@dg.job(
    config=request_form,
    description="Submit a new request from a form: its fields are the run config; the intake sensor runs it",
)
def submit_request():
    file_request()
