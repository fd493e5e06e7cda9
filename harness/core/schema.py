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
