"""Units of every objective and constraint: axis labels for plots and unit-bearing MLflow metric keys.

MAESTRO's numbers are nominally cycles, nJ, um^2 and mW (area is reported in mm^2 where the
hardware is physical, i.e. its NoC is not the release's unbounded one); the composite objectives carry the
product of their factors' units. MLflow metric keys may not hold ``^`` or ``*``, so keys spell
``um2`` and join factors with ``_`` (``LAP_um2_cycles``); labels keep the usual notation.
"""

from __future__ import annotations

OBJECTIVE_UNITS = {
    "latency": "cycles",
    "energy": "nJ",
    "LEP": "nJ·cycles",
    "LAP": "um^2·cycles",
    "EAP": "um^2·nJ",
    "thrpt_ave": "MACs/cycle",
    "thrpt_btnk": "MACs/cycle",
}
"""Every objective's unit, as printed on axes."""

CONSTRAINT_UNITS = {"area": "um^2", "power": "mW"}
"""Every constraint's unit, as printed on axes."""


def constraint_unit(constraint: str, *, physical: bool = False) -> str:
    """The unit a constraint is reported in: mm^2 for area on a physical NoC (see ``costmodel.presets``)."""
    return "mm^2" if physical and constraint == "area" else CONSTRAINT_UNITS.get(constraint, "?")


def _key_unit(unit: str) -> str:
    return unit.replace("^", "").replace("·", "_").replace("/", "_per_")


def objective_label(objective: str) -> str:
    """``latency (cycles)``: an axis label."""
    return f"{objective} ({OBJECTIVE_UNITS.get(objective, '?')})"


def constraint_label(constraint: str) -> str:
    """``area (um^2)``: an axis label."""
    return f"{constraint} ({CONSTRAINT_UNITS.get(constraint, '?')})"


def objective_key(objective: str) -> str:
    """``latency_cycles``: the objective's value as an MLflow metric key."""
    return f"{objective}_{_key_unit(OBJECTIVE_UNITS.get(objective, 'value'))}"


def constraint_key(constraint: str, what: str, *, physical: bool = False) -> str:
    """``area_used_um2`` or ``area_budget_um2`` (``_mm2`` when physical): a constraint quantity as a metric key."""
    unit = constraint_unit(constraint, physical=physical) if constraint in CONSTRAINT_UNITS else "value"
    return f"{constraint}_{what}_{_key_unit(unit)}"
