"""Reading the environment: one parser, one error form (the variable, what it holds, what is allowed).

Only the wiring reads the environment (settings.py at definition time); domain code gets values.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def env_text(name: str, default: str = "", env: Mapping[str, str] | None = None) -> str:
    value = (os.environ if env is None else env).get(name, "").strip()
    return value or default


def env_number(
    name: str, default: float, low: float, high: float = float("inf"), env: Mapping[str, str] | None = None
) -> float:
    text = env_text(name, env=env)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:
        allowed = f"a number >= {low:g}" if high == float("inf") else f"a number between {low:g} and {high:g}"
        raise ValueError(f"{name}={text!r} is not allowed; allowed: {allowed}")
    return value


def env_int(name: str, default: int, low: int, env: Mapping[str, str] | None = None) -> int:
    text = env_text(name, env=env)
    if not text:
        return default
    if not text.lstrip("-").isdigit() or int(text) < low:
        raise ValueError(f"{name}={text!r} is not allowed; allowed: an integer >= {low}")
    return int(text)


def env_choice(name: str, default: str, allowed: tuple[str, ...], env: Mapping[str, str] | None = None) -> str:
    value = env_text(name, default, env).lower()
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not allowed; allowed: {', '.join(allowed)}")
    return value


def env_path(name: str, default: Path, env: Mapping[str, str] | None = None) -> Path:
    text = env_text(name, env=env)
    return Path(text).expanduser().resolve() if text else default.resolve()
