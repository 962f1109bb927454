"""The synthesis request contract: what a data owner may ask for, and the refusals.

This module imports no orchestrator code. `SynthesisRequest` is the schema (pydantic, JSON Schema
generated from it); `parse_request` turns bytes or text into a request or a
`RequestError` whose lines each name the field, the value given and what is allowed.
`check_request_context` adds the checks that need the outside world (the data root).

A request learns from a real `dataset`, or, with `synthesizer.name = "schema_only"`, reads no
data at all and generates every column from its `schema` (or the shipped `template` it names).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

MAX_ROWS = 1_000_000
NON_DP_SYNTHESIZERS = ("gaussian_copula", "ctgan", "tvae", "copulagan", "argn")
DP_SYNTHESIZERS = ("dp_gaussian_copula", "dp_ctgan", "dp_tvae", "dp_mst")
# Generates from the request's schema alone: no dataset, no training, no ε.
SCHEMA_ONLY = "schema_only"
# The pipeline picks the synthesizer (training/auto.py) and the manifest says which and why.
AUTO = "auto"
SYNTHESIZER_NAMES = NON_DP_SYNTHESIZERS + DP_SYNTHESIZERS + (SCHEMA_ONLY, AUTO)
# Quality settings that compare with real rows: a schema_only request has none.
REAL_DATA_QUALITY = ("min_overall", "max_mia_auc", "min_tstr_ratio", "target_column", "holdout_uri")
# Which compressions each output format can carry.
COMPRESSIONS_BY_FORMAT: dict[str, tuple[str, ...]] = {
    "csv": ("none", "gzip", "zstd"),
    "parquet": ("none", "snappy", "gzip", "zstd"),
}
# GAN synthesizers pack `pac` rows per discriminator sample, so batches must be multiples of it.
PAC = 10

# One rule for request ids everywhere (partitions, folders, S3 keys): lowercase, at most 63 characters.
REQUEST_ID_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,62}$"
REQUEST_ID_RULE = "1-63 characters of lowercase letters, digits, '.', '_' or '-', starting with a letter or digit"

RequestId = Annotated[
    str,
    Field(
        pattern=REQUEST_ID_PATTERN,
        description="1-63 characters: lower-case letters, digits, '.', '_', '-'; starts with a letter or digit",
    ),
]


def _refuse(field: str, message: str) -> ValueError:
    """A model-level refusal that still names its field (pydantic would name only the model)."""
    return ValueError(f"[{field}] {message}")


class _Strict(BaseModel):
    """Unknown fields are refused everywhere in a request."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class DatasetSpec(_Strict):
    uri: str = Field(
        min_length=1,
        description="A path relative to SYNTH_DATA_ROOT, or an s3://bucket/key URI",
    )
    id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="The dataset's identity for the privacy ledger's per-dataset cap (default: the URI). Name every "
        "copy of the same data (re-sorted, another format, another path) with the same id",
    )
    format: Literal["csv", "parquet", "jsonl"] | None = Field(
        default=None, description="csv | parquet | jsonl; inferred from the file suffix when omitted"
    )

    @model_validator(mode="after")
    def _infer_format(self) -> DatasetSpec:
        if self.format is None:
            suffix = Path(self.uri.split("?")[0]).suffix.lower()
            inferred = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
            if suffix not in inferred:
                raise _refuse(
                    "format",
                    f"cannot infer the format of {self.uri!r} from its suffix; "
                    "set dataset.format to csv, parquet or jsonl",
                )
            self.format = inferred[suffix]  # type: ignore[assignment]
        return self


class SynthesizerSpec(_Strict):
    name: Literal[SYNTHESIZER_NAMES] = Field(  # type: ignore[valid-type]
        default="gaussian_copula",
        description="Which generative model to fit; schema_only fits none and generates from the schema alone",
    )
    epochs: int = Field(default=300, ge=1, le=10_000, description="Training epochs (neural synthesizers)")
    batch_size: int = Field(default=500, ge=10, le=100_000, description="Training batch size (neural synthesizers)")
    max_train_seconds: float | None = Field(
        default=None,
        gt=0,
        le=86_400,
        description="With name auto: the training time the pick must fit (argn also stops its fit there)",
    )

    @property
    def is_dp(self) -> bool:
        return self.name in DP_SYNTHESIZERS

    @property
    def is_schema_only(self) -> bool:
        return self.name == SCHEMA_ONLY

    @property
    def is_auto(self) -> bool:
        return self.name == AUTO

    @model_validator(mode="after")
    def _train_budget(self) -> SynthesizerSpec:
        if self.max_train_seconds is not None and self.name not in (AUTO, "argn"):
            raise _refuse(
                "max_train_seconds",
                f"is not allowed for {self.name!r}; allowed with auto (the pick must fit it) and argn (its fit "
                "stops there)",
            )
        return self

    @model_validator(mode="after")
    def _gan_batch(self) -> SynthesizerSpec:
        if self.name in ("ctgan", "copulagan", "dp_ctgan") and self.batch_size % PAC:
            raise _refuse(
                "batch_size",
                f"batch_size {self.batch_size} is not allowed for {self.name}: "
                f"it must be a multiple of {PAC} (the GAN's pac)",
            )
        return self


class OutputSpec(_Strict):
    format: Literal["csv", "parquet"] = Field(default="parquet", description="csv | parquet")
    compression: Literal["none", "gzip", "zstd", "snappy"] = Field(
        default="none", description="csv: none | gzip | zstd; parquet: none | snappy | gzip | zstd"
    )

    @model_validator(mode="after")
    def _compression_fits_format(self) -> OutputSpec:
        allowed = COMPRESSIONS_BY_FORMAT[self.format]
        if self.compression not in allowed:
            raise _refuse(
                "compression",
                f"compression {self.compression!r} is not allowed with format {self.format!r}; "
                f"allowed: {', '.join(allowed)}",
            )
        return self


class PrivacySpec(_Strict):
    """The budget. The public domain (kinds, bounds, categories) is the request's `schema`, not a field here."""

    epsilon: float = Field(gt=0, description="Total privacy budget; > 0 and at most SYNTH_MAX_EPSILON")
    delta: float | None = Field(
        default=None,
        gt=0,
        lt=1,
        description="Default: 1/N^1.1 for the schema's declared num_rows N, else 1e-7; never derived from the rows",
    )


class TableSchema(_Strict):
    """`{"metadata": <SDV Metadata dict>, "parameters": <SDV DayZ V1 parameters>}` for one table.

    The format SDV's open `DayZSynthesizer.create_parameters` writes and `validate_parameters`
    checks: sdtypes, numeric bounds and decimal digits, category values, missing shares. It is
    public: for a DP request it is the whole domain, and nothing structural is read from rows.
    """

    metadata: dict[str, Any] = Field(description="SDV Metadata dict with exactly one table")
    parameters: dict[str, Any] = Field(description="SDV DayZ V1 parameters for that table")

    @model_validator(mode="after")
    def _sdv_valid(self) -> TableSchema:
        from synth_pipelines.core.table_schema import check_schema

        problems = check_schema(self.metadata, self.parameters)
        if problems:
            field, message = problems[0]
            raise _refuse(field.removeprefix("schema."), message)  # pydantic puts this model's own "schema" first
        return self

    @property
    def table(self) -> str:
        return next(iter(self.metadata["tables"]))

    @property
    def columns(self) -> dict[str, dict[str, Any]]:
        """column name → SDV column metadata, in the metadata's order."""
        return dict(self.metadata["tables"][self.table]["columns"])

    def column_parameters(self, column: str) -> dict[str, Any]:
        table = self.parameters.get("tables", {}).get(self.table, {})
        return dict(table.get("columns", {}).get(column, {}))

    @property
    def num_rows(self) -> int | None:
        return self.parameters.get("tables", {}).get(self.table, {}).get("num_rows")


class QualitySpec(_Strict):
    min_overall: float | None = Field(default=None, ge=0, le=1, description="SDMetrics quality score floor")
    min_diagnostic: float | None = Field(default=None, ge=0, le=1, description="SDMetrics diagnostic score floor")
    max_mia_auc: float | None = Field(default=None, ge=0, le=1, description="Membership-inference AUC ceiling")
    min_tstr_ratio: float | None = Field(
        default=None, ge=0, le=2, description="Train-synthetic-test-real score / train-real-test-real score floor"
    )
    target_column: str | None = Field(default=None, description="Column predicted in the usefulness test")
    sensitive_columns: list[str] = Field(default_factory=list, description="Columns checked for disclosure")
    holdout_uri: str | None = Field(default=None, description="Real rows never trained on, under SYNTH_DATA_ROOT")
    publish_plots: bool = Field(
        default=False, description="Publish plots and real-data statistics with the export (default: kept private)"
    )


# Synthesizers that generate conditionally (fixed values, exact counts); a DP model cannot.
# argn draws column after column in a fixed order: it cannot fix a later column's value.
CONDITIONAL_SYNTHESIZERS = tuple(n for n in NON_DP_SYNTHESIZERS if n != "argn") + (SCHEMA_ONLY,)
# Column kinds a condition may fix: one value of a level or a number, never an id, a date or free text.
CONDITION_SDTYPES = ("categorical", "boolean", "ordinal", "numerical")


class ConditionSpec(_Strict):
    """Rows with fixed values, as SDV's `Condition(column_values=..., num_rows=...)` takes them."""

    values: dict[str, Any] = Field(  # one string, number or boolean each (checked below)
        min_length=1,
        description='column → the value every row of this condition has, e.g. {"income": ">50K"}',
        json_schema_extra={"additionalProperties": {"type": ["string", "number", "boolean"]}},
    )
    rows: int = Field(ge=1, le=MAX_ROWS, description="How many rows have these values (exactly)")

    @field_validator("values", mode="before")
    @classmethod
    def _scalars(cls, values: Any) -> Any:
        if isinstance(values, dict):
            for column, value in values.items():
                finite = not isinstance(value, float) or math.isfinite(value)
                if not isinstance(value, str | bool | int | float) or not finite:
                    raise _refuse(
                        column,
                        f"must be one string, number or true/false (got {type(value).__name__}); "
                        "a condition fixes a value, it cannot ask for missing ones",
                    )
        return values


def schema_condition_problems(conditions: list[ConditionSpec], schema: TableSchema) -> list[tuple[str, str]]:
    """(field, why) for each condition value the declared schema does not allow.

    Only the schema's own declarations are named (its columns, category lists, bounds): the
    owner wrote them, so the message repeats no value of the data.
    """
    problems: list[tuple[str, str]] = []
    columns = schema.columns
    key = schema.metadata["tables"][schema.table].get("primary_key")
    for i, condition in enumerate(conditions):
        for column, value in condition.values.items():
            field = f"conditions.{i}.values.{column}"
            meta = columns.get(column)
            if meta is None:
                problems.append((field, f"is not a column of the schema; allowed: {', '.join(columns)}"))
                continue
            sdtype = meta.get("sdtype")
            if column == key or sdtype not in CONDITION_SDTYPES:
                kind = "the primary key" if column == key else f"a {sdtype} column"
                problems.append((field, f"is {kind}: a condition fixes a {', '.join(CONDITION_SDTYPES)} column only"))
                continue
            params = schema.column_parameters(column)
            problem = _declared_value_problem(value, sdtype, params)
            if problem:
                problems.append((field, problem))
    return problems


def _declared_value_problem(value: Any, sdtype: str, params: dict[str, Any]) -> str | None:
    if sdtype == "numerical":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{value!r} is not a number; the column is numerical"
        low, high = params.get("min_value"), params.get("max_value")
        if (low is not None and value < low) or (high is not None and value > high):
            return f"{value!r} is outside the declared bounds [{low}, {high}]"
        return None
    if sdtype == "boolean":
        return None if isinstance(value, bool) else f"{value!r} is not true or false; the column is boolean"
    declared = params.get("category_values")
    if declared and value not in declared:
        shown = ", ".join(repr(v) for v in declared[:20]) + (
            f", ... ({len(declared)} in all)" if len(declared) > 20 else ""
        )
        return f"{value!r} is not one of the declared category_values; allowed: {shown}"
    return None


PublishTarget = Literal["local", "s3", "ipfs", "arweave"]


def _local_only() -> list[PublishTarget]:
    return ["local"]


def dataset_problem(synthesizer: object, has_dataset: bool) -> tuple[str, str] | None:
    """("dataset", why) when the dataset's presence does not fit the synthesizer, else None."""
    if synthesizer == SCHEMA_ONLY and has_dataset:
        return "dataset", "a schema_only request reads no data: remove dataset, or name a synthesizer that learns"
    if synthesizer != SCHEMA_ONLY and not has_dataset:
        return "dataset", f"is required for synthesizer {synthesizer!r}; only schema_only generates without a dataset"
    return None


class ValidationSpec(_Strict):
    """The owner's data contract beyond the `schema` (see data/validation.py)."""

    expectation_suite: str | None = Field(
        default=None,
        min_length=1,
        description="A Great Expectations suite JSON file under SYNTH_DATA_ROOT "
        '({"name": ..., "expectations": [{"type": ..., "kwargs": {...}}]}): each expectation blocks the run',
    )


class SynthesisRequest(_Strict):
    """One ask: rows like this dataset, made this way, published there."""

    request_id: RequestId
    dataset: DatasetSpec | None = Field(
        default=None, description="The real table to learn from; required unless synthesizer.name is schema_only"
    )
    synthesizer: SynthesizerSpec = Field(default_factory=SynthesizerSpec)
    rows: int = Field(ge=1, le=MAX_ROWS, description="Rows to generate, 1..1,000,000")
    chunk_rows: int = Field(default=10_000, ge=1, le=MAX_ROWS, description="Rows per generated chunk")
    output: OutputSpec = Field(default_factory=OutputSpec)
    seed: int = Field(default=0, ge=0, le=2**32 - 1, description="Seed for generation; same seed, same bytes")
    privacy: PrivacySpec | None = None
    schema_: TableSchema | None = Field(
        default=None,
        alias="schema",
        description="The table's public schema: SDV Metadata plus DayZ V1 parameters. Required for DP and "
        "schema_only requests (or name a template)",
    )
    template: str | None = Field(
        default=None,
        min_length=1,
        max_length=63,
        description="A shipped schema by name instead of `schema` (`synth-pipelines templates` lists them)",
    )
    conditions: list[ConditionSpec] | None = Field(
        default=None,
        min_length=1,
        description='Fixed values with exact row counts, e.g. [{"values": {"income": ">50K"}, "rows": 2000}]; '
        "the counts add up to `rows`. Not for DP synthesizers",
    )
    quality: QualitySpec = Field(default_factory=QualitySpec)
    validation: ValidationSpec | None = Field(
        default=None, description="The owner's declared expectations beyond the schema (blocking)"
    )
    publish: list[PublishTarget] = Field(
        default_factory=_local_only, min_length=1, description="Where to publish: local | s3 | ipfs | arweave"
    )
    requester: str = Field(min_length=1, max_length=200, description="Who asked (an e-mail or a user name)")
    schedule: str | None = Field(
        default=None, description="Cron string for a standing request (five fields), e.g. '0 3 * * *'"
    )
    webhook_url: str | None = Field(default=None, description="http(s) URL notified on success and failure")
    keep: bool = Field(default=False, description="Never removed by the retention schedule")

    @field_validator("publish")
    @classmethod
    def _unique_targets(cls, targets: list[str]) -> list[str]:
        if len(set(targets)) != len(targets):
            raise ValueError(f"publish targets must be unique, got {targets}")
        return targets

    @field_validator("schedule")
    @classmethod
    def _cron(cls, schedule: str | None) -> str | None:
        if schedule is not None and not re.fullmatch(r"\S+( \S+){4}", schedule.strip()):
            raise ValueError(f"schedule {schedule!r} is not a five-field cron string such as '0 3 * * *'")
        return schedule

    @field_validator("webhook_url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is not None and not re.match(r"^https?://[^\s/]+", url):
            raise ValueError(f"webhook_url {url!r} must be an http:// or https:// URL")
        return url

    @model_validator(mode="after")
    def _resolve_template(self) -> SynthesisRequest:
        """A named template becomes the request's schema, checked by SDV's validators like a written one."""
        if self.template is None:
            return self
        from synth_pipelines.core.templates import UnknownTemplate, template_schema

        if self.schema_ is not None:
            raise _refuse("template", "give either `schema` or `template`, not both")
        try:
            self.schema_ = TableSchema.model_validate(template_schema(self.template))
        except UnknownTemplate as exc:
            raise _refuse("template", str(exc)) from None
        return self

    @model_validator(mode="after")
    def _data_matches_synthesizer(self) -> SynthesisRequest:
        problem = dataset_problem(self.synthesizer.name, self.dataset is not None)
        if problem:
            raise _refuse(*problem)
        if not self.synthesizer.is_schema_only:
            return self
        if self.privacy is not None:
            raise _refuse(
                "privacy",
                "a schema_only request reads no real data and spends no ε: remove the privacy block",
            )
        if self.schema_ is None:
            raise _refuse(
                "schema",
                "a schema_only request generates every column from its schema: give `schema` "
                '({"metadata": <SDV Metadata dict>, "parameters": <DayZ V1 parameters>}) or `template` '
                "(`synth-pipelines templates` lists them)",
            )
        from synth_pipelines.core.table_schema import dp_domain_problems

        problems = dp_domain_problems(self.schema_, purpose="a schema_only request")
        if problems:
            raise _refuse(*problems[0])
        for name in REAL_DATA_QUALITY:
            if getattr(self.quality, name) is not None:
                raise _refuse(
                    f"quality.{name}",
                    "compares with real rows and a schema_only request has none; quality.min_diagnostic gates "
                    "its validity against the schema",
                )
        if self.quality.sensitive_columns or self.quality.publish_plots:
            field = "sensitive_columns" if self.quality.sensitive_columns else "publish_plots"
            raise _refuse(f"quality.{field}", "needs real rows and a schema_only request has none")
        return self

    @model_validator(mode="after")
    def _conditions_fit(self) -> SynthesisRequest:
        """Conditions add up to `rows`, need a synthesizer that can condition, and fit the declared schema."""
        if self.conditions is None:
            return self
        if self.synthesizer.name not in CONDITIONAL_SYNTHESIZERS + (AUTO,):
            raise _refuse(
                "conditions",
                f"synthesizer {self.synthesizer.name!r} cannot generate with fixed values (the DP models sample "
                f"unconditionally only); allowed with conditions: {', '.join(CONDITIONAL_SYNTHESIZERS)}",
            )
        total = sum(c.rows for c in self.conditions)
        if total != self.rows:
            raise _refuse(
                "conditions",
                f"the conditions' rows add up to {total:,} but rows is {self.rows:,}: every generated row "
                "belongs to one condition, so the two must be equal",
            )
        if self.schema_ is not None:
            problems = schema_condition_problems(self.conditions, self.schema_)
            if problems:
                field, message = problems[0]
                raise _refuse(field, message)
        return self

    @property
    def condition_list(self) -> list[tuple[dict[str, Any], int]] | None:
        """The conditions as (values, rows) pairs, in the request's order (None: unconditioned)."""
        return None if self.conditions is None else [(dict(c.values), c.rows) for c in self.conditions]

    @model_serializer(mode="wrap")
    def _template_by_name(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> dict[str, Any]:
        """A request that names a template is stored and sent by that name, not with a copy of its schema;
        one without conditions has no `conditions` key."""
        data = handler(self)
        if self.conditions is None:  # an unconditioned request's stored text is what it was before conditions
            data.pop("conditions", None)
        if self.template is not None:
            data.pop("schema" if info.by_alias else "schema_", None)
        return data

    @model_validator(mode="after")
    def _privacy_matches_synthesizer(self) -> SynthesisRequest:
        # auto with a privacy block picks a DP synthesizer, so it is held to a DP request's rules.
        dp = self.synthesizer.is_dp or (self.synthesizer.is_auto and self.privacy is not None)
        if self.synthesizer.is_auto and self.privacy is not None and self.conditions is not None:
            raise _refuse("conditions", "auto with privacy picks a DP synthesizer, and DP models cannot fix values")
        if self.synthesizer.is_dp and self.privacy is None:
            raise _refuse(
                "privacy",
                f"synthesizer {self.synthesizer.name!r} is differentially private and needs a privacy block "
                '(e.g. "privacy": {"epsilon": 1.0})',
            )
        if self.privacy is not None and not dp:
            raise _refuse(
                "privacy",
                f"a privacy block needs a DP synthesizer ({', '.join(DP_SYNTHESIZERS)}) or auto; "
                f"{self.synthesizer.name!r} gives no privacy guarantee",
            )
        if dp:
            from synth_pipelines.core.table_schema import DP_SCHEMA_HELP, dp_domain_problems

            if self.schema_ is None:
                raise _refuse("schema", DP_SCHEMA_HELP)
            problems = dp_domain_problems(self.schema_)
            if problems:
                field, message = problems[0]
                raise _refuse(field, message)
        return self

    @property
    def schema(self) -> TableSchema | None:  # type: ignore[override]
        """The declared table schema (`schema` in the request JSON)."""
        return self.schema_

    @property
    def dataset_id(self) -> str | None:
        """The identity the privacy ledger keys the per-dataset cap on (None: a schema_only request has no data)."""
        return None if self.dataset is None else self.dataset.id or self.dataset.uri

    @property
    def schema_only(self) -> bool:
        """Generated from the schema alone: no dataset is read anywhere in the run."""
        return self.synthesizer.is_schema_only

    @property
    def n_chunks(self) -> int:
        return -(-self.rows // self.chunk_rows)

    def canonical_json(self) -> str:
        """The request as stable JSON: the same request always gives the same text.

        Keys keep the request's order (fields, then the schema's columns as written), not sorted:
        the schema's column order is the output's.
        """
        return json.dumps(self.model_dump(mode="json", by_alias=True), separators=(",", ":"))


class RequestError(ValueError):
    """A refused request: `problems` holds one (field, message) pair per problem."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{field}: {message}" for field, message in problems))

    def to_dict(self) -> dict[str, Any]:
        return {"errors": [{"field": field, "message": message} for field, message in self.problems]}


_NAMED = re.compile(r"^\[([^\]]+)\] (.*)$", re.S)


def _problem(error: Any) -> tuple[str, str]:
    loc = [str(part) for part in error["loc"]]
    message = error["msg"].removeprefix("Value error, ")
    named = _NAMED.match(message)
    if named:
        loc.append(named.group(1))
        message = named.group(2)
    field = ".".join(loc) or "request"
    if error["type"] == "missing":
        return field, "is required"
    if error["type"] == "extra_forbidden":
        return field, f"unknown field (value {error['input']!r}); see `synth-pipelines schema` for the allowed fields"
    if error["type"] == "value_error":
        return field, message
    return field, f"{message} (got {error['input']!r})"


def parse_request(raw: str | bytes | dict[str, Any]) -> SynthesisRequest:
    """Parse and validate a request from JSON text or a dict; raise RequestError if refused."""
    if isinstance(raw, (str, bytes)):
        try:
            raw = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RequestError([("request", f"is not valid JSON: {exc}")]) from None
    if not isinstance(raw, dict):
        raise RequestError([("request", f"must be a JSON object, got {type(raw).__name__}")])
    try:
        return SynthesisRequest.model_validate(raw)
    except ValidationError as exc:
        problems = [_problem(e) for e in exc.errors()]
        # The model's own dataset check runs only once every field is valid: name it beside the others.
        synthesizer = raw.get("synthesizer")
        name = synthesizer.get("name", "gaussian_copula") if isinstance(synthesizer, dict) else "gaussian_copula"
        missing = dataset_problem(name, raw.get("dataset") is not None)
        if missing and all(field.split(".")[0] != "dataset" for field, _ in problems):
            problems.append(missing)
        raise RequestError(problems) from None


def request_json_schema() -> dict[str, Any]:
    schema = SynthesisRequest.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "SynthesisRequest"
    return schema
