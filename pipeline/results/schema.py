"""The columns of every Parquet table ConfX writes, in one place (documented in the README).

Writers reindex to these columns and readers check for them, so a table and its reader
cannot drift apart.
"""

from __future__ import annotations

import pyarrow as pa

TRIALS_SCHEMA = pa.schema(
    [
        ("sweep", pa.string()),
        ("trial_key", pa.string()),
        ("run_name", pa.string()),
        ("network", pa.string()),
        ("dataflow", pa.string()),
        ("objective", pa.string()),
        ("constraint", pa.string()),
        ("mul", pa.float64()),
        ("space", pa.string()),
        ("algorithm", pa.string()),
        ("seed", pa.int64()),
        ("settings", pa.string()),
        ("objective_value", pa.float64()),
        ("sense", pa.string()),
        ("optimum", pa.float64()),
        ("gap", pa.float64()),
        ("constraint_used", pa.float64()),
        ("budget", pa.float64()),
        ("feasible", pa.bool_()),
        ("optimal", pa.bool_()),
        ("model_evaluations", pa.int64()),
        ("cost_model_calls", pa.int64()),
        ("wall_time_s", pa.float64()),
        ("status", pa.string()),
        ("error", pa.string()),
        ("run_id", pa.string()),
        ("node_id", pa.string()),
    ]
)
"""``trials.parquet``: one row per planned (or tuned) trial of a sweep."""

TRIAL_COLUMNS = tuple(TRIALS_SCHEMA.names)
SUMMARY_COLUMNS = (
    "objective_value",
    "sense",
    "constraint_used",
    "budget",
    "feasible",
    "optimal",
    "model_evaluations",
    "cost_model_calls",
    "wall_time_s",
)
"""Columns of ``trials.parquet`` that come from the search's ``summary.json``."""

CURVE_SCHEMA = pa.schema(
    [("model_evaluations", pa.int64()), ("cost_model_calls", pa.int64()), ("best_objective", pa.float64())]
)
"""``curve.parquet``: the best-so-far objective against the search's cost."""
CURVE_COLUMNS = tuple(CURVE_SCHEMA.names)

PARETO_SCHEMA = pa.schema(
    [
        ("model", pa.string()),
        ("space", pa.string()),
        ("dataflow", pa.string()),
        ("objective", pa.string()),
        ("constraint", pa.string()),
        ("mul", pa.float64()),
        ("budget", pa.float64()),
        ("objective_value", pa.float64()),
        ("constraint_used", pa.float64()),
        ("optimal", pa.bool_()),
    ]
)
"""``pareto.parquet``: one row per budget level; ``objective_value`` is NaN where no design fits the budget."""

PROBLEM_AXES = ("network", "dataflow", "objective", "constraint")
"""What a problem is, before its budget level."""
GROUP_AXES = (*PROBLEM_AXES, "mul")
"""Axes of a problem group; the trials of one group share its exact optimum."""
COMPARISON_KEYS = (*GROUP_AXES, "algorithm")
"""A group of trials that the report and the nightly comparison summarise into one row."""
COMPARISON_COLUMNS = (
    *COMPARISON_KEYS,
    "sense",
    "best_objective",
    "optimum",
    "best_gap",
    "mean_gap",
    "trials",
    "failed",
    "best_run",
)
"""The report's comparison table (also ``comparison.csv``)."""
