"""Shipped table schemas a request may name instead of writing its own (`"template": "customers"`).

Each template is `synth_pipelines/templates/<name>.json` (package data, installed with the
package): `{"description": ..., "metadata": <SDV Metadata dict>, "parameters": <DayZ V1
parameters>}`, the same `schema` format a request carries, so SDV's validators check it like
any other schema. A request that names a template keeps the name, not a copy: the schema is
read from the installed code when the request is parsed (the manifest's `code_version` says
which).
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

TEMPLATE_PACKAGE = "synth_pipelines"
TEMPLATE_FOLDER = "templates"


def _folder():
    return resources.files(TEMPLATE_PACKAGE).joinpath(TEMPLATE_FOLDER)


def template_names() -> list[str]:
    """The shipped templates, by name, sorted."""
    return sorted(entry.name.removesuffix(".json") for entry in _folder().iterdir() if entry.name.endswith(".json"))


class UnknownTemplate(KeyError):
    """A template name that is not shipped; the message lists the ones that are."""

    def __str__(self) -> str:
        return str(self.args[0])


@lru_cache(maxsize=32)
def _read(name: str) -> str:
    return _folder().joinpath(f"{name}.json").read_text(encoding="utf-8")


def load_template(name: str) -> dict[str, Any]:
    """The template's file content: description, metadata, parameters (a fresh copy each call)."""
    if name not in template_names():
        raise UnknownTemplate(f"{name!r} is not a shipped template; allowed: {', '.join(template_names())}")
    return json.loads(_read(name))


def template_schema(name: str) -> dict[str, Any]:
    """The request `schema` a template stands for: `{"metadata": ..., "parameters": ...}`."""
    template = load_template(name)
    return {"metadata": template["metadata"], "parameters": template["parameters"]}


def describe_templates() -> list[dict[str, Any]]:
    """Name, column count, column names and description of every shipped template."""
    described = []
    for name in template_names():
        template = load_template(name)
        table = next(iter(template["metadata"]["tables"].values()))
        described.append(
            {
                "name": name,
                "columns": len(table["columns"]),
                "column_names": list(table["columns"]),
                "description": template.get("description", ""),
            }
        )
    return described
