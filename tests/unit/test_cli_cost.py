"""`confx cost`, the contract other tools call: rows in order, outputs added, clean failures."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from confx.costmodel import OUTPUT_COLUMNS

CONFX = [sys.executable, "-m", "confx.pipeline.cli"]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CONFX, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_cost_adds_outputs_and_keeps_rows(tmp_path, maestro_reference, suffix):
    sample = maestro_reference.sample(500, random_state=0)
    inputs = sample[["sample", "model", "K", "C", "Y", "X", "R", "S", "T", "dataflow", "num_pe", "ktile"]]
    source = tmp_path / f"designs{suffix}"
    inputs.to_parquet(source) if suffix == ".parquet" else inputs.to_csv(source, index=False)
    target = tmp_path / f"costs{suffix}"
    done = _run("cost", str(source), str(target))
    assert done.returncode == 0, done.stderr
    out = pd.read_parquet(target) if suffix == ".parquet" else pd.read_csv(target)
    assert list(out.columns) == [*inputs.columns, *OUTPUT_COLUMNS]
    np.testing.assert_array_equal(out["model"], inputs["model"])
    valid = sample["valid"].astype(bool).to_numpy()
    np.testing.assert_array_equal(out["valid"].astype(bool), valid)
    np.testing.assert_array_equal(out["runtime_cycles"][valid].astype(np.int64), sample["runtime_cycles"][valid])
    assert out.loc[~valid, "runtime_cycles"].isna().all()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("K,C,Y,X,R,S,T,dataflow,num_pe,ktile\n8,3,10,10,3,3,1,dla,4,0\n", "column ktile"),
        ("K,C,Y,X,R,S,T,dataflow,num_pe,ktile\n8,3,10,10,3,3,1,tpu,4,2\n", "unknown dataflow"),
        ("K,C,Y,X,R,S,T,dataflow\n8,3,10,10,3,3,1,dla\n", "missing column"),
        ("", "empty file"),
    ],
)
def test_bad_input_exits_2_without_traceback_or_output(tmp_path, content, expected):
    source = tmp_path / "in.csv"
    source.write_text(content)
    target = tmp_path / "out.parquet"
    done = _run("cost", str(source), str(target))
    assert done.returncode == 2
    assert expected in done.stderr and "Traceback" not in done.stderr
    assert not target.exists() and list(tmp_path.iterdir()) == [source]


def test_missing_input_file_exits_2(tmp_path):
    done = _run("cost", str(tmp_path / "nope.csv"), str(tmp_path / "out.csv"))
    assert done.returncode == 2 and "not found" in done.stderr
