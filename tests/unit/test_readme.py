"""The README's architecture table stays true: every module listed once, in its folder."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("costmodel", "envs", "pipeline")


def _architecture_rows() -> list[tuple[str, str]]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Architecture\n", 1)[1].split("\n### ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 2 and not set(cells[0]) <= {"-"}:
            rows.append((cells[0], cells[1]))
    return rows


def _listed_modules() -> list[str]:
    """Module paths named in the first column, resolved against the folder of the row above them."""
    listed, folder = [], ""
    for name_cell, _ in _architecture_rows():
        names = re.findall(r"`([^`]+)`", name_cell)
        if name_cell.startswith("**"):
            folder = names[0].rstrip("/") if names[0].endswith("/") else str(Path(names[0]).parent)
            listed += [names[0]] if names[0].endswith(".py") else []
            continue
        if names and names[0].rstrip("/") in ("conf", "cluster", "benchmarks", "tests"):
            continue  # data and tooling folders, outside the packages
        listed += [f"{folder}/{name}" for name in names if name.endswith(".py") or name.endswith("/")]
    return listed


def _modules_on_disk() -> set[str]:
    found = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            relative = path.relative_to(ROOT).as_posix()
            if "/zoo/" in relative:
                found.add(relative.split("/zoo/")[0] + "/zoo/")
            elif path.name != "__init__.py" or relative == "pipeline/search/__init__.py":
                found.add(relative)
    return found


def test_every_module_is_listed_exactly_once() -> None:
    listed = _listed_modules()
    duplicates = sorted({name for name in listed if listed.count(name) > 1})
    assert not duplicates, f"listed twice: {duplicates}"
    modules = {name for name in listed if not name.endswith(("catalog/", "mappings/"))}
    missing = sorted(_modules_on_disk() - modules)
    stale = sorted(modules - _modules_on_disk())
    assert not missing and not stale, f"not in the README: {missing}; in the README only: {stale}"


def test_every_module_has_one_job_written_beside_it() -> None:
    assert all(job for _, job in _architecture_rows())
