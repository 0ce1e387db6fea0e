"""The notebook API at ``confx`` itself: its doctests, and reading a sweep's results."""

from __future__ import annotations

import doctest
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import confx
from confx.costmodel.errors import ConfXError
from confx.pipeline.results.schema import TRIAL_COLUMNS
from confx.pipeline.results.tables import write_table


def test_the_documented_examples_run() -> None:
    failures, tried = doctest.testmod(confx, verbose=False)
    assert tried >= 8 and failures == 0


def test_every_public_name_resolves() -> None:
    for name in confx.__all__:
        assert getattr(confx, name) is not None
    with pytest.raises(AttributeError):
        confx.not_a_name  # noqa: B018


def test_import_confx_is_light() -> None:
    code = "import sys, confx\nassert not {'numpy', 'torch', 'ray', 'pandas'} & set(sys.modules), sorted(sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_read_results_returns_the_trials_table(tmp_path: Path) -> None:
    row = dict.fromkeys(TRIAL_COLUMNS) | {"sweep": "unit", "trial_key": "k", "status": "ok", "objective_value": 1.5}
    write_table(pd.DataFrame([row]), tmp_path / "trials.parquet")
    trials = confx.read_results(tmp_path)
    assert tuple(trials.columns) == TRIAL_COLUMNS and trials["objective_value"].tolist() == [1.5]


def test_read_results_names_the_folder_when_it_holds_no_sweep(tmp_path: Path) -> None:
    with pytest.raises(ConfXError, match="no trials.parquet"):
        confx.read_results(tmp_path)
    pd.DataFrame({"a": [1]}).to_parquet(tmp_path / "trials.parquet")
    with pytest.raises(ConfXError, match="not a sweep's trials table"):
        confx.read_results(tmp_path)
