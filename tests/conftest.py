"""Shared test helpers: where the real fixture records live."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SHARED = ROOT.parent / "shared"
FIXTURES = SHARED / "fixtures"
RECORDS = FIXTURES / "records"
TOKENIZERS = FIXTURES / "tokenizers"


@pytest.fixture(scope="session")
def records_dir() -> Path:
    if not RECORDS.is_dir():
        pytest.skip(f"fixture records not found at {RECORDS} (../shared/fixtures is absent)")
    return RECORDS


@pytest.fixture(scope="session")
def tokenizers_dir() -> Path:
    if not TOKENIZERS.is_dir():
        pytest.skip(f"fixture tokenizers not found at {TOKENIZERS}")
    return TOKENIZERS
