"""Shared fixtures: paths of the reference data carried in the repository."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def maestro_reference() -> pd.DataFrame:
    """The real MAESTRO's outputs on 31,722 design points (see tests/data/README.md)."""
    return pd.read_csv(DATA / "maestro_dev.csv.gz")
