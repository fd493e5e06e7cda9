"""JSON Schemas (draft 2020-12) for every input the harness reads (records, manifests); a package so
the files ship as package data. :func:`schema_errors` is the one validation entry point."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker


@lru_cache(maxsize=None)
def validator(name: str) -> Draft202012Validator:
    """The validator of ``<name>.schema.json`` shipped in this package."""
    schema = json.loads(resources.files(__name__).joinpath(f"{name}.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


def schema_errors(name: str, obj: Any) -> list[str]:
    """``"where: message"`` for each way ``obj`` breaks the schema ``name`` (empty: valid)."""
    out = []
    for e in sorted(validator(name).iter_errors(obj), key=lambda e: (list(e.absolute_path), e.message)):
        where = "/".join(str(p) for p in e.absolute_path) or "(top)"
        msg = e.schema.get("description") if e.validator == "pattern" and e.schema.get("description") else e.message
        out.append(f"{where}: {msg}" + (f" (got {e.instance!r})" if e.validator == "pattern" else ""))
    return out


MAX_DEPTH = 32  # no input the harness reads nests deeper; a deeper one is hostile or broken


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def check_plain(obj: Any, where: str = "input", depth: int = 0) -> None:
    """Raise ValueError for NaN/Infinity anywhere in ``obj`` or nesting deeper than MAX_DEPTH."""
    if depth > MAX_DEPTH:
        raise ValueError(f"{where} nests deeper than {MAX_DEPTH} levels")
    if isinstance(obj, float) and (obj != obj or obj in (float("inf"), float("-inf"))):
        raise ValueError(f"{where} holds {obj!r}, which is not a finite number")
    if isinstance(obj, dict):
        for k, v in obj.items():
            check_plain(v, f"{where}/{k}", depth + 1)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            check_plain(v, f"{where}/{i}", depth + 1)


def loads_json(text: str | bytes, where: str = "input") -> Any:
    """``json.loads`` for inputs the harness does not trust: NaN/Infinity and deep nesting are
    ValueErrors with one clear line, never a traceback."""
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError(f"{where} nests too deeply to read") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where} is not valid JSON ({exc})") from None
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    check_plain(obj, where)
    return obj
