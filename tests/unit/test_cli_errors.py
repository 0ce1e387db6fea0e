"""Every bad input gets one line naming the thing at fault, exit code 2, and leaves nothing behind.

The table runs ``confx.pipeline.cli.main`` in-process: every case here fails in the validation
layer, before Ray or MLflow start, so the process boundary adds nothing but start-up time
(tests/e2e/test_errors_and_signals.py runs one case of each kind, signals and tracebacks in
real subprocesses). Each case asserts: exit code 2, exactly one non-empty stderr line that
contains the named file, key, row or column, no traceback, no new file or folder anywhere in
the inputs folder (no output, no temporary file, no MLflow store).
"""

from __future__ import annotations

import gzip
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from confx.pipeline.cli import main

DESIGN = "K,C,Y,X,R,S,T,dataflow,num_pe,ktile"
GOOD_ROW = ["64", "3", "224", "224", "11", "11", "1", "dla", "4", "2"]
LAYER_HEADER = "K,C,Y,X,R,S,T"


def _design_csv(**cells: str) -> str:
    row = dict(zip(DESIGN.split(","), GOOD_ROW, strict=True)) | cells
    return f"{DESIGN}\n{','.join(GOOD_ROW)}\n{','.join(row.values())}\n"


def _sweep(**changes: object) -> dict:
    base = {"name": "bad", "networks": ["alexnet"], "results_dir": "results", "algorithms": [{"name": "exact"}]}
    return {**base, **changes}


def _write_inputs(d: Path) -> None:
    """Every input file the table refers to, in one folder."""
    (d / "ok.csv").write_text(_design_csv())
    (d / "afile").write_text("not a folder\n")
    (d / "folder.csv").mkdir()
    (d / "empty.csv").write_text("")
    (d / "notes.txt").write_text("K,C\n1,2\n")
    (d / "binary.csv").write_bytes(bytes(range(256)) * 8)
    (d / "binary.parquet").write_bytes(bytes(range(256)) * 8)
    (d / "trunc.csv.gz").write_bytes(gzip.compress(_design_csv().encode() * 50)[:60])
    (d / "missing_col.csv").write_text("K,C,Y,X,R,S,T,dataflow,num_pe\n64,3,224,224,11,11,1,dla,4\n")
    (d / "dup_col.csv").write_text(f"{DESIGN},K\n{','.join(GOOD_ROW)},5\n")
    (d / "true_cell.csv").write_text(_design_csv(T="True"))
    (d / "overflow.csv").write_text(_design_csv(K="10000000", C="10000000", Y="100000", X="100000", R="3", S="3"))
    (d / "unknown_df.csv").write_text(_design_csv(dataflow="nvdla"))
    good = dict(zip(DESIGN.split(","), GOOD_ROW, strict=True))
    frame = pd.DataFrame({k: [int(v)] if k != "dataflow" else [v] for k, v in good.items()})
    frame.assign(T=[True]).to_parquet(d / "bool.parquet")
    frame.assign(num_pe=[pd.Timestamp("2024-01-01")]).to_parquet(d / "timestamp.parquet")
    frame.assign(ktile=[pd.Timedelta("1s")]).to_parquet(d / "duration.parquet")
    (d / "empty_cell.csv").write_text(_design_csv(X=""))
    frame.assign(C=["abc"]).to_parquet(d / "string.parquet")
    for column, values in BAD_CELLS.items():
        for label, value in values:
            (d / f"cell_{column}_{label}.csv").write_text(_design_csv(**{column: value}))
    # design tables with a mapping or hardware column
    mapped = "K,C,Y,X,R,S,T,num_pe,mapping,noc_bw,simd_lanes\n128,64,28,28,3,3,1,64,kcp_ws,16,1\n"
    (d / "map_unknown.csv").write_text(mapped + "128,64,28,28,3,3,1,64,tpu_ws,16,1\n")
    (d / "bad_map.m").write_text("Dataflow {\n  SpatialMap(1,1) K;\n  Frobnicate(2) C;\n}\n")
    (d / "map_malformed.csv").write_text(mapped + "128,64,28,28,3,3,1,64,bad_map.m,16,1\n")
    (d / "map_absent.csv").write_text(mapped + "128,64,28,28,3,3,1,64,nothere.m,16,1\n")
    (d / "binary_map.m").write_bytes(bytes(range(128, 256)) * 8)
    (d / "map_binary.csv").write_text(mapped + "128,64,28,28,3,3,1,64,binary_map.m,16,1\n")
    (d / "map_empty.csv").write_text(mapped + "128,64,28,28,3,3,1,64,,16,1\n")
    (d / "hw_negative.csv").write_text(mapped + "128,64,28,28,3,3,1,64,kcp_ws,-4,1\n")
    (d / "hw_fraction.csv").write_text(mapped + "128,64,28,28,3,3,1,64,kcp_ws,16,1.5\n")
    (d / "hw_text.csv").write_text(mapped + "128,64,28,28,3,3,1,64,kcp_ws,wide,1\n")
    (d / "free_map.m").write_text("Dataflow {\n  SpatialMap(1,1) K;\n  TemporalMap(Tile,Tile) C;\n}\n")
    (d / "map_free_constant.csv").write_text(mapped + "128,64,28,28,3,3,1,64,free_map.m,16,1\n")
    (d / "map_no_ktile.csv").write_text(mapped + "128,64,28,28,3,3,1,64,dla,16,1\n")
    # layer tables (networks)
    (d / "net_ok.csv").write_text(f"{LAYER_HEADER}\n64,3,32,32,3,3,1\n")
    (d / "net_header.csv").write_text(f"{LAYER_HEADER}\n")
    (d / "net_dup.csv").write_text(f"{LAYER_HEADER},K\n64,3,32,32,3,3,1,4\n")
    (d / "net_bad.csv").write_text(f"{LAYER_HEADER}\n64,3,32,32,3,3,1\n64,3,2,2,5,5,1\n")
    (d / "net_fields.csv").write_text(f"{LAYER_HEADER}\n64,3,32,32,3,3\n")
    (d / "net_huge.csv").write_text(f"{LAYER_HEADER}\n10000000,10000000,100000,100000,3,3,1\n")
    (d / "net_missing.csv").write_text("K,C,Y,X,R,S\n64,3,32,32,3,3\n")
    # sweep configs
    for name, data in SWEEPS.items():
        (d / f"{name}.yaml").write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    (d / "binary.yaml").write_bytes(bytes(range(256)))
    started = d / "results" / "bad"
    (started / "tune").mkdir(parents=True)
    # report folders
    (d / "not_sweep").mkdir()
    pd.DataFrame({"a": [1]}).to_parquet(d / "not_sweep" / "trials.parquet")
    (d / "empty_sweep").mkdir()
    from confx.pipeline.results.schema import TRIAL_COLUMNS

    pd.DataFrame({c: pd.Series(dtype=object) for c in TRIAL_COLUMNS}).to_parquet(d / "empty_sweep" / "trials.parquet")
    (d / "no_trials").mkdir()


BAD_CELLS = {
    column: [("zero", "0"), ("negative", "-3"), ("fraction", "2.5"), ("text", "abc"), ("huge", "1e300")]
    for column in ("K", "C", "Y", "X", "R", "S", "num_pe", "ktile")
} | {"T": [("three", "3"), ("zero", "0"), ("text", "conv"), ("fraction", "1.5")]}

SWEEPS: dict[str, object] = {
    "yaml_syntax": "name: bad\nnetworks: [alexnet\nalgorithms:\n  - name: exact\n",
    "yaml_tab": "name: bad\n\tnetworks: [alexnet]\n",
    "yaml_dup_key": "name: bad\nname: other\nnetworks: [alexnet]\nalgorithms:\n  - name: exact\n",
    "yaml_list": "- name: bad\n",
    "yaml_empty": "",
    "unknown_key": _sweep(colour="red"),
    "bad_name": _sweep(name="a b/c"),
    "no_networks": _sweep(networks=[]),
    "unknown_network": _sweep(networks=["lenet5"]),
    "malformed_network": _sweep(networks=["net_bad.csv"]),
    "header_network": _sweep(networks=["net_header.csv"]),
    "repeat_network": _sweep(networks=["alexnet", "alexnet"]),
    "repeat_mul": _sweep(muls=[0.5, 0.5]),
    "repeat_seed": _sweep(seeds=[0, 0]),
    "repeat_dataflow": _sweep(dataflows=["dla", "dla"]),
    "repeat_objective": _sweep(objectives=["latency", "latency"]),
    "mul_range": _sweep(muls=[1.5]),
    "mul_text": _sweep(muls="half"),
    "seed_negative": _sweep(seeds=[-1]),
    "seed_huge": _sweep(seeds=[2**40]),
    "unknown_dataflow": _sweep(dataflows=["nvdla"]),
    "unknown_objective": _sweep(objectives=["speed"]),
    "unknown_algorithm": _sweep(algorithms=[{"name": "magic"}]),
    "no_algorithms": _sweep(algorithms=[]),
    "unknown_setting": _sweep(algorithms=[{"name": "anneal", "settings": {"lr_x": 0.1}}]),
    "setting_type": _sweep(algorithms=[{"name": "anneal", "settings": {"max_step": "abc"}}]),
    "setting_list_type": _sweep(algorithms=[{"name": "anneal", "settings": {"max_step": [1, "two"]}}]),
    "setting_range": _sweep(algorithms=[{"name": "random", "settings": {"batch_size": 0}}]),
    "setting_nan": _sweep(algorithms=[{"name": "anneal", "settings": {"initial_temperature": float("nan")}}]),
    "setting_repeat": _sweep(algorithms=[{"name": "anneal", "settings": {"max_step": [1, 1]}}]),
    "setting_empty_axis": _sweep(algorithms=[{"name": "anneal", "settings": {"max_step": []}}]),
    "rl_setting_range": _sweep(algorithms=[{"name": "confuciux", "settings": {"gamma": 1.5}}]),
    "ga_cross_field": _sweep(algorithms=[{"name": "ga", "settings": {"n_parents": 80}}]),
    "tune_unknown": _sweep(algorithms=[{"name": "anneal", "tune": {"space": {"lr_x": {"uniform": [0, 1]}}}}]),
    "tune_type": _sweep(algorithms=[{"name": "anneal", "tune": {"space": {"max_step": {"uniform": [0.5, 3]}}}}]),
    "tune_log_zero": _sweep(
        algorithms=[{"name": "anneal", "tune": {"space": {"initial_temperature": {"loguniform": [0, 1]}}}}]
    ),
    "tune_reversed": _sweep(algorithms=[{"name": "anneal", "tune": {"space": {"max_step": {"randint": [4, 1]}}}}]),
    "tune_two_kinds": _sweep(
        algorithms=[{"name": "anneal", "tune": {"space": {"max_step": {"randint": [1, 3], "choice": [1]}}}}]
    ),
    "tune_overlap": _sweep(
        algorithms=[
            {"name": "anneal", "settings": {"max_step": 2}, "tune": {"space": {"max_step": {"randint": [1, 3]}}}}
        ]
    ),
    "tune_samples": _sweep(
        algorithms=[{"name": "anneal", "tune": {"num_samples": 0, "space": {"max_step": {"randint": [1, 3]}}}}]
    ),
    "budget_zero": _sweep(algorithms=[{"name": "random", "budget": 0}]),
    "epochs_two": _sweep(algorithms=[{"name": "confuciux", "epochs": 2}]),
    "epochs_text": _sweep(algorithms=[{"name": "exact", "epochs": "many"}]),
    "max_failures": _sweep(max_failures=-1),
    "cpus_zero": _sweep(resources={"cpus_per_trial": 0}),
    "results_file": _sweep(results_dir="afile"),
    "results_under_file": _sweep(results_dir="afile/deeper"),
    "results_exist": _sweep(),
    "nightly_uri": _sweep(results_dir="s3://bucket/confx"),
    "tolerance": _sweep(nightly={"gap_tolerance": -1}),
    "unknown_hardware": _sweep(hardware="tpu"),
    "noc_bw_unsorted": _sweep(noc_bw=[64, 16]),
    "dataflow_file": _sweep(dataflows=["mine.m"]),
}

# (id, argv with {d} for the inputs folder, a fragment the one stderr line must contain)
CASES: list[tuple[str, list[str], str]] = [
    # --- confx cost: the input table
    ("cost-missing-input", ["cost", "nothere.csv", "out.csv"], "nothere.csv: file not found"),
    ("cost-folder-input", ["cost", "folder.csv", "out.csv"], "folder.csv: is a folder"),
    ("cost-input-extension", ["cost", "notes.txt", "out.csv"], "notes.txt: unknown table format"),
    ("cost-empty-input", ["cost", "empty.csv", "out.csv"], "empty.csv: empty file"),
    ("cost-binary-csv", ["cost", "binary.csv", "out.csv"], "binary.csv: not a UTF-8"),
    ("cost-binary-parquet", ["cost", "binary.parquet", "out.csv"], "binary.parquet: cannot read as parquet"),
    ("cost-truncated-gz", ["cost", "trunc.csv.gz", "out.csv"], "trunc.csv.gz: truncated or corrupt"),
    ("cost-missing-column", ["cost", "missing_col.csv", "out.csv"], "missing column(s) ktile"),
    ("cost-column-twice", ["cost", "dup_col.csv", "out.csv"], "column(s) K appear more than once"),
    ("cost-true-cell", ["cost", "true_cell.csv", "out.csv"], "column T"),
    ("cost-overflow", ["cost", "overflow.csv", "out.csv"], "exceeds 2^53"),
    ("cost-unknown-dataflow", ["cost", "unknown_df.csv", "out.csv"], "column dataflow: unknown dataflow"),
    ("cost-bool-parquet", ["cost", "bool.parquet", "out.parquet"], "column T has type bool"),
    ("cost-timestamp-parquet", ["cost", "timestamp.parquet", "out.parquet"], "column num_pe has type timestamp"),
    ("cost-duration-parquet", ["cost", "duration.parquet", "out.parquet"], "column ktile has type duration"),
    ("cost-empty-cell", ["cost", "empty_cell.csv", "out.csv"], "column X: not an integer"),
    ("cost-text-parquet", ["cost", "string.parquet", "out.parquet"], "column C: not a number (data row 1: 'abc')"),
    *[
        (f"cost-cell-{column}-{label}", ["cost", f"cell_{column}_{label}.csv", "out.csv"], f"column {column}")
        for column, values in BAD_CELLS.items()
        for label, _ in values
    ],
    # --- confx cost: the mapping and hardware columns
    (
        "cost-mapping-unknown",
        ["cost", "map_unknown.csv", "out.csv"],
        "column mapping, data row 2: unknown mapping 'tpu_ws'",
    ),
    ("cost-mapping-malformed", ["cost", "map_malformed.csv", "out.csv"], "bad_map.m:3: 'Frobnicate(2) C'"),
    ("cost-mapping-absent", ["cost", "map_absent.csv", "out.csv"], "nothere.m: no such mapping file"),
    ("cost-mapping-binary", ["cost", "map_binary.csv", "out.csv"], "binary_map.m: cannot read the mapping file"),
    ("cost-mapping-empty", ["cost", "map_empty.csv", "out.csv"], "column mapping: no mapping (data row 2)"),
    ("cost-hw-negative", ["cost", "hw_negative.csv", "out.csv"], "column noc_bw: must be an integer >= 1"),
    ("cost-hw-fraction", ["cost", "hw_fraction.csv", "out.csv"], "column simd_lanes: not an integer (data row 2"),
    ("cost-hw-text", ["cost", "hw_text.csv", "out.csv"], "column noc_bw: not a number (data row 2: 'wide')"),
    (
        "cost-mapping-free-constant",
        ["cost", "map_free_constant.csv", "out.csv"],
        "uses constant(s) Tile without a value",
    ),
    ("cost-mapping-no-ktile", ["cost", "map_no_ktile.csv", "out.csv"], "missing column ktile, needed by the template"),
    # --- confx cost: the output path
    ("cost-output-folder", ["cost", "ok.csv", "folder.csv"], "folder.csv: is an existing folder"),
    ("cost-output-under-file", ["cost", "ok.csv", "afile/out.csv"], "afile is a file, not a folder"),
    ("cost-output-no-folder", ["cost", "ok.csv", "nowhere/out.csv"], "folder nowhere does not exist"),
    ("cost-output-extension", ["cost", "ok.csv", "out.xlsx"], "out.xlsx: unknown table format"),
    ("cost-missing-arguments", ["cost", "ok.csv"], "the following arguments are required: output"),
    # --- confx search: arguments
    (
        "search-seed-negative",
        ["search", "--model", "alexnet", "--algorithm", "random", "--seed", "-1", "--out", "o"],
        "--seed",
    ),
    (
        "search-seed-huge",
        ["search", "--model", "alexnet", "--algorithm", "random", "--seed", str(2**40), "--out", "o"],
        "--seed",
    ),
    (
        "search-seed-text",
        ["search", "--model", "alexnet", "--algorithm", "random", "--seed", "x", "--out", "o"],
        "--seed",
    ),
    (
        "search-budget-zero",
        ["search", "--model", "alexnet", "--algorithm", "random", "--budget", "0", "--out", "o"],
        "--budget",
    ),
    (
        "search-budget-negative",
        ["search", "--model", "alexnet", "--algorithm", "ga", "--budget", "-5", "--out", "o"],
        "--budget",
    ),
    (
        "search-epochs-zero",
        ["search", "--model", "alexnet", "--algorithm", "confuciux", "--epochs", "0", "--out", "o"],
        "--epochs",
    ),
    (
        "search-epochs-negative",
        ["search", "--model", "alexnet", "--algorithm", "ppo", "--epochs", "-2", "--out", "o"],
        "--epochs",
    ),
    (
        "search-epochs-two",
        ["search", "--model", "alexnet", "--algorithm", "reinforce", "--epochs", "2", "--out", "o"],
        "--epochs",
    ),
    (
        "search-mul-above",
        ["search", "--model", "alexnet", "--algorithm", "exact", "--mul", "1.5", "--out", "o"],
        "--mul",
    ),
    (
        "search-mul-below",
        ["search", "--model", "alexnet", "--algorithm", "exact", "--mul", "-0.1", "--out", "o"],
        "--mul",
    ),
    ("search-mul-nan", ["search", "--model", "alexnet", "--algorithm", "exact", "--mul", "nan", "--out", "o"], "--mul"),
    ("search-mul-inf", ["search", "--model", "alexnet", "--algorithm", "exact", "--mul", "inf", "--out", "o"], "--mul"),
    (
        "search-num-pe-zero",
        ["search", "--model", "alexnet", "--algorithm", "exact", "--num-pe", "0,1", "--out", "o"],
        "--num-pe",
    ),
    (
        "search-num-pe-unsorted",
        ["search", "--model", "alexnet", "--algorithm", "exact", "--num-pe", "4,2", "--out", "o"],
        "--num-pe",
    ),
    (
        "search-num-pe-repeat",
        ["search", "--model", "alexnet", "--algorithm", "exact", "--num-pe", "2,2", "--out", "o"],
        "--num-pe",
    ),
    (
        "search-num-pe-text",
        ["search", "--model", "alexnet", "--algorithm", "exact", "--num-pe", "a,b", "--out", "o"],
        "--num-pe",
    ),
    (
        "search-num-pe-empty",
        ["search", "--model", "alexnet", "--algorithm", "exact", "--num-pe", ",", "--out", "o"],
        "--num-pe",
    ),
    (
        "search-ktile-negative",
        ["search", "--model", "alexnet", "--algorithm", "exact", "--ktile=-1,2", "--out", "o"],
        "--ktile",
    ),
    (
        "search-num-pe-memory",
        ["search", "--model", "alexnet", "--algorithm", "random", "--num-pe", "1,2,100000000", "--out", "o"],
        "use smaller --num-pe",
    ),
    (
        "search-set-type",
        ["search", "--model", "alexnet", "--algorithm", "anneal", "--set", "max_step=abc", "--out", "o"],
        "max_step",
    ),
    (
        "search-set-list",
        ["search", "--model", "alexnet", "--algorithm", "anneal", "--set", "max_step=[1, 2]", "--out", "o"],
        "max_step",
    ),
    (
        "search-set-yaml",
        ["search", "--model", "alexnet", "--algorithm", "anneal", "--set", "max_step=[1,", "--out", "o"],
        "max_step",
    ),
    (
        "search-set-unknown",
        ["search", "--model", "alexnet", "--algorithm", "anneal", "--set", "lr_x=1", "--out", "o"],
        "lr_x",
    ),
    (
        "search-set-no-equals",
        ["search", "--model", "alexnet", "--algorithm", "anneal", "--set", "max_step", "--out", "o"],
        "KEY=VALUE",
    ),
    (
        "search-set-range",
        ["search", "--model", "alexnet", "--algorithm", "random", "--set", "batch_size=0", "--out", "o"],
        "batch_size",
    ),
    (
        "search-set-lr",
        ["search", "--model", "alexnet", "--algorithm", "confuciux", "--set", "lr=-1", "--out", "o"],
        "lr",
    ),
    (
        "search-set-gamma",
        ["search", "--model", "alexnet", "--algorithm", "reinforce", "--set", "gamma=2", "--out", "o"],
        "gamma",
    ),
    (
        "search-set-rate",
        ["search", "--model", "alexnet", "--algorithm", "ga", "--set", "mutation_rate=1.5", "--out", "o"],
        "mutation_rate",
    ),
    (
        "search-set-parents",
        ["search", "--model", "alexnet", "--algorithm", "ga", "--set", "n_parents=60", "--out", "o"],
        "n_parents",
    ),
    (
        "search-set-inf",
        ["search", "--model", "alexnet", "--algorithm", "anneal", "--set", "initial_temperature=.inf", "--out", "o"],
        "initial_temperature",
    ),
    (
        "search-set-bool",
        ["search", "--model", "alexnet", "--algorithm", "reinforce", "--set", "recurrent=maybe", "--out", "o"],
        "recurrent",
    ),
    (
        "search-set-literal",
        ["search", "--model", "alexnet", "--algorithm", "exact", "--set", "method=simplex", "--out", "o"],
        "method",
    ),
    (
        "search-out-file",
        ["search", "--model", "alexnet", "--algorithm", "random", "--out", "afile"],
        "afile: --out is an existing file",
    ),
    (
        "search-out-under-file",
        ["search", "--model", "alexnet", "--algorithm", "random", "--out", "afile/sub"],
        "which is a file",
    ),
    (
        "search-model-missing",
        ["search", "--model", "nothere.csv", "--algorithm", "random", "--out", "o"],
        "nothere.csv",
    ),
    ("search-model-unknown", ["search", "--model", "lenet5", "--algorithm", "random", "--out", "o"], "lenet5"),
    (
        "search-model-folder",
        ["search", "--model", "folder.csv", "--algorithm", "random", "--out", "o"],
        "folder.csv: is a folder",
    ),
    (
        "search-model-binary",
        ["search", "--model", "binary.csv", "--algorithm", "random", "--out", "o"],
        "binary.csv: not a UTF-8",
    ),
    (
        "search-model-empty",
        ["search", "--model", "empty.csv", "--algorithm", "random", "--out", "o"],
        "empty.csv: empty file",
    ),
    (
        "search-model-header-only",
        ["search", "--model", "net_header.csv", "--algorithm", "random", "--out", "o"],
        "net_header.csv: no layers",
    ),
    (
        "search-model-column-twice",
        ["search", "--model", "net_dup.csv", "--algorithm", "random", "--out", "o"],
        "appear more than once",
    ),
    ("search-model-bad-row", ["search", "--model", "net_bad.csv", "--algorithm", "random", "--out", "o"], "line 3"),
    (
        "search-model-short-row",
        ["search", "--model", "net_fields.csv", "--algorithm", "random", "--out", "o"],
        "line 2 has 6 fields",
    ),
    (
        "search-model-missing-column",
        ["search", "--model", "net_missing.csv", "--algorithm", "random", "--out", "o"],
        "missing column(s) T",
    ),
    (
        "search-model-overflow",
        ["search", "--model", "net_huge.csv", "--algorithm", "random", "--out", "o"],
        "exceeds 2^53",
    ),
    ("search-algorithm", ["search", "--model", "alexnet", "--algorithm", "magic", "--out", "o"], "--algorithm"),
    (
        "search-dataflow",
        ["search", "--model", "alexnet", "--algorithm", "exact", "--dataflow", "tpu", "--out", "o"],
        "--dataflow",
    ),
    (
        "search-objective",
        ["search", "--model", "alexnet", "--algorithm", "exact", "--objective", "speed", "--out", "o"],
        "--objective",
    ),
    (
        "search-constraint",
        ["search", "--model", "alexnet", "--algorithm", "exact", "--constraint", "cost", "--out", "o"],
        "--constraint",
    ),
    (
        "search-space",
        ["search", "--model", "alexnet", "--algorithm", "exact", "--space", "huge", "--out", "o"],
        "--space",
    ),
    (
        "search-unknown-flag",
        ["search", "--model", "alexnet", "--algorithm", "exact", "--out", "o", "--bogus"],
        "unrecognized arguments: --bogus",
    ),
    ("search-no-out", ["search", "--model", "alexnet", "--algorithm", "exact"], "--out"),
    ("search-no-model", ["search", "--algorithm", "exact", "--out", "o"], "--model"),
    # --- confx pareto
    ("pareto-dataflow", ["pareto", "--model", "alexnet", "--dataflows", "tpu", "--out", "p"], "--dataflows"),
    ("pareto-objective", ["pareto", "--model", "alexnet", "--objectives", "speed", "--out", "p"], "--objectives"),
    ("pareto-constraint", ["pareto", "--model", "alexnet", "--constraints", "cost", "--out", "p"], "--constraints"),
    ("pareto-mul", ["pareto", "--model", "alexnet", "--muls", "0.5", "2", "--out", "p"], "--muls"),
    ("pareto-mul-nan", ["pareto", "--model", "alexnet", "--muls", "nan", "--out", "p"], "--muls"),
    ("pareto-out-file", ["pareto", "--model", "alexnet", "--out", "afile"], "afile: --out is an existing file"),
    ("pareto-model", ["pareto", "--model", "nothere.csv", "--muls", "0.5", "--out", "p"], "nothere.csv"),
    ("pareto-space", ["pareto", "--model", "alexnet", "--space", "huge", "--out", "p"], "--space"),
    # --- confx sweep
    ("sweep-missing", ["sweep", "nothere.yaml"], "nothere.yaml: sweep config not found"),
    ("sweep-folder", ["sweep", "folder.csv"], "folder.csv: is a folder"),
    ("sweep-binary", ["sweep", "binary.yaml"], "binary.yaml"),
    ("sweep-yaml-syntax", ["sweep", "yaml_syntax.yaml"], "yaml_syntax.yaml:3:11: not valid YAML"),
    ("sweep-yaml-tab", ["sweep", "yaml_tab.yaml"], "yaml_tab.yaml:2:"),
    ("sweep-yaml-dup-key", ["sweep", "yaml_dup_key.yaml"], "yaml_dup_key.yaml:2:1: not valid YAML: key 'name'"),
    ("sweep-yaml-list", ["sweep", "yaml_list.yaml"], "yaml_list.yaml: expected a mapping"),
    ("sweep-yaml-empty", ["sweep", "yaml_empty.yaml"], "yaml_empty.yaml: expected a mapping"),
    ("sweep-unknown-key", ["sweep", "unknown_key.yaml"], "colour: unknown key"),
    ("sweep-unknown-hardware", ["sweep", "unknown_hardware.yaml"], "hardware: unknown hardware preset 'tpu'"),
    ("sweep-noc-bw-unsorted", ["sweep", "noc_bw_unsorted.yaml"], "noc_bw: values must be sorted"),
    ("sweep-dataflow-file", ["sweep", "dataflow_file.yaml"], "dataflows: unknown dataflow(s) ['mine.m']"),
    (
        "search-noc-bw-zero",
        ["search", "--model", "alexnet", "--algorithm", "exact", "--noc-bw", "0", "--out", "o"],
        "--noc-bw",
    ),
    (
        "search-cap-negative",
        ["search", "--model", "alexnet", "--algorithm", "exact", "--cap", "-1", "--out", "o"],
        "--cap",
    ),
    (
        "search-mappings-twice",
        ["search", "--model", "alexnet", "--algorithm", "exact", "--mappings", "dla,dla", "--out", "o"],
        "--mappings",
    ),
    (
        "search-mapping-file",
        ["search", "--model", "alexnet", "--algorithm", "exact", "--dataflow", "nothere.m", "--out", "o"],
        "nothere.m: no such mapping file",
    ),
    ("sweep-bad-name", ["sweep", "bad_name.yaml"], "bad_name.yaml: name"),
    ("sweep-no-networks", ["sweep", "no_networks.yaml"], "no_networks.yaml: networks"),
    ("sweep-unknown-network", ["sweep", "unknown_network.yaml"], "unknown network 'lenet5'"),
    ("sweep-malformed-network", ["sweep", "malformed_network.yaml"], "net_bad.csv: column R"),
    ("sweep-header-network", ["sweep", "header_network.yaml"], "net_header.csv: no layers"),
    ("sweep-repeat-network", ["sweep", "repeat_network.yaml"], "networks: 'alexnet' listed twice"),
    ("sweep-repeat-mul", ["sweep", "repeat_mul.yaml"], "muls: 0.5 listed twice"),
    ("sweep-repeat-seed", ["sweep", "repeat_seed.yaml"], "seeds: 0.0 listed twice"),
    ("sweep-repeat-dataflow", ["sweep", "repeat_dataflow.yaml"], "dataflows: 'dla' listed twice"),
    ("sweep-repeat-objective", ["sweep", "repeat_objective.yaml"], "objectives: 'latency' listed twice"),
    ("sweep-mul-range", ["sweep", "mul_range.yaml"], "muls: budget levels must lie in [0, 1]"),
    ("sweep-mul-text", ["sweep", "mul_text.yaml"], "mul_text.yaml: muls"),
    ("sweep-seed-negative", ["sweep", "seed_negative.yaml"], "seeds: seeds must lie in"),
    ("sweep-seed-huge", ["sweep", "seed_huge.yaml"], "seeds: seeds must lie in"),
    ("sweep-unknown-dataflow", ["sweep", "unknown_dataflow.yaml"], "dataflows: unknown dataflow(s) ['nvdla']"),
    ("sweep-unknown-objective", ["sweep", "unknown_objective.yaml"], "objectives.0"),
    ("sweep-unknown-algorithm", ["sweep", "unknown_algorithm.yaml"], "algorithms.0.name"),
    ("sweep-no-algorithms", ["sweep", "no_algorithms.yaml"], "no_algorithms.yaml: algorithms"),
    ("sweep-unknown-setting", ["sweep", "unknown_setting.yaml"], "algorithms.0: unknown anneal setting 'lr_x'"),
    ("sweep-setting-type", ["sweep", "setting_type.yaml"], "anneal setting max_step='abc': expected int"),
    ("sweep-setting-list-type", ["sweep", "setting_list_type.yaml"], "max_step='two'"),
    ("sweep-setting-range", ["sweep", "setting_range.yaml"], "batch_size=0: must be >= 1"),
    ("sweep-setting-nan", ["sweep", "setting_nan.yaml"], "initial_temperature=nan"),
    ("sweep-setting-repeat", ["sweep", "setting_repeat.yaml"], "setting 'max_step' lists 1 twice"),
    ("sweep-setting-empty-axis", ["sweep", "setting_empty_axis.yaml"], "setting 'max_step' is an empty list"),
    ("sweep-rl-setting-range", ["sweep", "rl_setting_range.yaml"], "gamma=1.5"),
    ("sweep-ga-cross-field", ["sweep", "ga_cross_field.yaml"], "n_parents may not exceed population_size"),
    ("sweep-tune-unknown", ["sweep", "tune_unknown.yaml"], "tune.space.lr_x: unknown anneal setting"),
    ("sweep-tune-type", ["sweep", "tune_type.yaml"], "tune.space.max_step: anneal setting max_step=0.5"),
    ("sweep-tune-log-zero", ["sweep", "tune_log_zero.yaml"], "loguniform bounds [0.0, 1.0] must be positive"),
    ("sweep-tune-reversed", ["sweep", "tune_reversed.yaml"], "the low bound must be below the high bound"),
    ("sweep-tune-two-kinds", ["sweep", "tune_two_kinds.yaml"], "give exactly one of"),
    ("sweep-tune-overlap", ["sweep", "tune_overlap.yaml"], "both fixed and searched"),
    ("sweep-tune-samples", ["sweep", "tune_samples.yaml"], "tune.num_samples"),
    ("sweep-budget-zero", ["sweep", "budget_zero.yaml"], "algorithms.0.budget"),
    ("sweep-epochs-two", ["sweep", "epochs_two.yaml"], "algorithms.0.epochs"),
    ("sweep-epochs-text", ["sweep", "epochs_text.yaml"], "algorithms.0.epochs"),
    ("sweep-max-failures", ["sweep", "max_failures.yaml"], "max_failures"),
    ("sweep-cpus-zero", ["sweep", "cpus_zero.yaml"], "resources.cpus_per_trial"),
    ("sweep-results-file", ["sweep", "results_file.yaml"], "afile/bad: results folder lies under"),
    ("sweep-results-under-file", ["sweep", "results_under_file.yaml"], "which is a file"),
    ("sweep-results-flag-file", ["sweep", "unknown_key.yaml", "--results-dir", "afile"], "colour: unknown key"),
    ("sweep-results-exist", ["sweep", "results_exist.yaml"], "already has results"),
    ("sweep-tolerance", ["sweep", "tolerance.yaml"], "nightly.gap_tolerance"),
    ("sweep-no-config", ["sweep"], "the following arguments are required: config"),
    # --- confx nightly
    ("nightly-date", ["nightly", "results_exist.yaml", "--date", "yesterday"], "--date 'yesterday' is not a date"),
    ("nightly-date-month", ["nightly", "results_exist.yaml", "--date", "2024-13-01"], "--date '2024-13-01'"),
    ("nightly-uri", ["nightly", "nightly_uri.yaml", "--date", "2024-01-01"], "is a URI"),
    ("nightly-bad-config", ["nightly", "unknown_setting.yaml"], "unknown anneal setting"),
    # --- confx report
    ("report-missing", ["report", "nothere"], "nothere: no such folder"),
    ("report-file", ["report", "afile"], "afile: results folder is an existing file"),
    ("report-no-trials", ["report", "no_trials"], "no_trials: no trials.parquet"),
    ("report-not-sweep", ["report", "not_sweep"], "not a sweep's trials table"),
    ("report-empty", ["report", "empty_sweep"], "has no trials (no rows)"),
    # --- confx ui
    ("ui-port-zero", ["ui", "--port", "0"], "--port"),
    ("ui-port-high", ["ui", "--port", "70000"], "--port"),
    ("ui-port-text", ["ui", "--port", "http"], "--port"),
    ("ui-no-store", ["ui", "--results-dir", "no_trials"], "no MLflow store (mlflow.db) in no_trials"),
    ("ui-results-file", ["ui", "--results-dir", "afile"], "no MLflow store"),
    # --- confx itself
    ("no-command", [], "the following arguments are required: command"),
    ("unknown-command", ["frobnicate"], "invalid choice: 'frobnicate'"),
]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("inputs")
    _write_inputs(folder)
    return folder


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_the_table_holds_at_least_120_distinct_bad_inputs():
    assert len(CASES) >= 120
    assert len({case[0] for case in CASES}) == len(CASES)


@pytest.mark.parametrize(("argv", "fragment"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_a_bad_input_exits_2_with_one_line_and_leaves_nothing(inputs, monkeypatch, capsys, argv, fragment):
    monkeypatch.chdir(inputs)
    before = _listing(inputs)
    code = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and len(err.splitlines()) == 1, err
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in err
    assert _listing(inputs) == before, "no output, temporary file or MLflow store may be left"


def test_a_port_in_use_is_one_line(inputs, monkeypatch, capsys):
    (inputs / "store").mkdir(exist_ok=True)
    (inputs / "store" / "mlflow.db").write_bytes(b"")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        busy.listen()
        code = main(["ui", "--results-dir", str(inputs / "store"), "--port", str(port)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and f"--port {port}: already in use" in err


# ----------------------------------------------------------------------------- accepted inputs


def test_a_utf8_bom_csv_is_accepted(tmp_path, capsys):
    source = tmp_path / "bom.csv"
    source.write_bytes(b"\xef\xbb\xbf" + _design_csv().encode())
    assert main(["cost", str(source), str(tmp_path / "out.csv")]) == 0
    out = pd.read_csv(tmp_path / "out.csv")
    assert list(out.columns[:3]) == ["K", "C", "Y"] and len(out) == 2
    assert out["valid"].all() and out["runtime_cycles"].iloc[0] == 356109697


def test_a_utf8_bom_layer_table_is_accepted(tmp_path, capsys):
    network = tmp_path / "bom_net.csv"
    network.write_bytes(b"\xef\xbb\xbf" + f"{LAYER_HEADER}\n64,3,32,32,3,3,1\n".encode())
    code = main(["search", "--model", str(network), "--algorithm", "exact", "--out", str(tmp_path / "out")])
    assert code == 0, capsys.readouterr().err
    assert pd.read_parquet(tmp_path / "out" / "solution.parquet")["K"].tolist() == [64]


def test_a_header_only_design_table_gives_a_header_only_output(tmp_path, capsys):
    source = tmp_path / "header.csv"
    source.write_text(DESIGN + "\n")
    assert main(["cost", str(source), str(tmp_path / "out.parquet")]) == 0
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert out.empty and "runtime_cycles" in out.columns and out["valid"].dtype == bool
    assert "0 design points" in capsys.readouterr().out


def test_outputs_follow_the_umask(tmp_path, capsys):
    import os

    old = os.umask(0o022)
    try:
        assert main(["cost", str(_copy_ok(tmp_path)), str(tmp_path / "out.csv")]) == 0
    finally:
        os.umask(old)
    assert (tmp_path / "out.csv").stat().st_mode & 0o777 == 0o644


def test_a_stale_temporary_file_of_a_dead_writer_is_removed_by_the_next_write(tmp_path, capsys):
    import subprocess

    dead = subprocess.Popen(["true"])
    dead.wait()
    host = socket.gethostname()
    stale = tmp_path / f".out.csv.confx-{host}-{dead.pid}-0123abcd"
    stale.write_text("half")
    mine = tmp_path / f".out.csv.confx-{host}-{os_getpid()}-feedbeef"
    mine.write_text("in progress")
    assert main(["cost", str(_copy_ok(tmp_path)), str(tmp_path / "out.csv")]) == 0
    assert not stale.exists() and mine.exists(), "a dead writer's file goes, a live one's stays"


def test_an_infeasible_search_is_a_result(tmp_path, capsys):
    code = main(["search", "--model", "alexnet", "--algorithm", "random", "--budget", "3", "--mul", "0",
                 "--num-pe", "1,2,4", "--ktile", "1,2", "--out", str(tmp_path / "out")])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    solution = pd.read_parquet(tmp_path / "out" / "solution.parquet")
    assert {"dataflow", "num_pe", "ktile", "runtime_cycles"} <= set(solution.columns)
    from confx.pipeline.results.maestro_export import write_mapping_files

    assert write_mapping_files(solution, tmp_path / "maestro") == []


def _copy_ok(folder: Path) -> Path:
    path = folder / "ok.csv"
    path.write_text(_design_csv())
    return path


def os_getpid() -> int:
    import os

    return os.getpid()


def test_huge_but_exact_dimensions_give_no_numpy_warning(tmp_path, capsys):
    source = tmp_path / "large.csv"
    source.write_text(_design_csv(K="4096", C="4096", Y="512", X="512", R="3", S="3"))
    with np.errstate(all="raise"):
        assert main(["cost", str(source), str(tmp_path / "out.csv")]) == 0
    assert (pd.read_csv(tmp_path / "out.csv")["energy_nj"] > 0).all()
