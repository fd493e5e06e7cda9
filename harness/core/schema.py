"""JSON Schema validation in one place: draft 2020-12, formats checked, errors as "where: message".

Schemas shipped as package data (``harness/core/schemas/*.json``,
``verifier/report.schema.json``) are read through ``importlib.resources`` so a
wheel installed anywhere validates the same way as a checkout.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

try:  # Python 3.11+; tomli is the same parser for 3.10
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    import tomli as tomllib


def validator(schema: dict[str, Any]) -> Draft202012Validator:
    """A checked draft 2020-12 validator for ``schema`` (SchemaError if the schema itself is wrong)."""
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


@lru_cache(maxsize=None)
def packaged_validator(package: str, name: str) -> Draft202012Validator:
    """The validator of the schema file ``name`` shipped in ``package`` (cached)."""
    schema = json.loads(resources.files(package).joinpath(name).read_text(encoding="utf-8"))
    return validator(schema)


def errors(v: Draft202012Validator, obj: Any) -> list[str]:
    """Every error of ``obj``, sorted by place, as ``a/b/0: message`` (``(top)`` for the document)."""
    out = []
    for e in sorted(v.iter_errors(obj), key=lambda e: ([str(p) for p in e.absolute_path], e.message)):
        where = "/".join(str(p) for p in e.absolute_path) or "(top)"
        out.append(f"{where}: {e.message}")
    return out


def schema_errors(name: str, obj: Any) -> list[str]:
    """Errors of ``obj`` (a manifest, policy or registry) against ``harness/core/schemas/<name>.schema.json``;
    a pattern failure says what the pattern means (its schema's description) and what it got."""
    out = []
    v = packaged_validator("harness.core.schemas", f"{name}.schema.json")
    for e in sorted(v.iter_errors(obj), key=lambda e: ([str(p) for p in e.absolute_path], e.message)):
        where = "/".join(str(p) for p in e.absolute_path) or "(top)"
        described = e.validator == "pattern" and e.schema.get("description")
        out.append(f"{where}: {e.schema['description']} (got {e.instance!r})" if described else f"{where}: {e.message}")
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
        raise ValueError(f"{where} is not JSON ({exc})") from None
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    check_plain(obj, where)
    return obj


def loads_toml(text: str, where: str = "input", schema: str | None = None) -> dict[str, Any]:
    """The one TOML reader for manifests, policies and the dataset registry: a parse error, NaN/Infinity,
    deep nesting or (given ``schema``, a file of ``harness/core/schemas/``) any key or value the schema
    does not allow, in any nested table, is a ValueError naming the place."""
    try:
        obj = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{where} is not valid TOML ({exc})") from None
    check_plain(obj, where)
    if schema is not None:
        problems = schema_errors(schema, obj)
        if problems:
            raise ValueError(f"{where} does not follow {schema}.schema.json: " + "; ".join(problems))
    return obj
