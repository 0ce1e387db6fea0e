"""Import boundaries (house style): each layer pulls in only what it is allowed to.

costmodel: numpy and the standard library only; envs: plus gymnasium; the GA task path
(what Ray workers import to evaluate a generation): no torch and no RLlib. Checked by
importing every module of a package in a fresh interpreter and listing what it loaded.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import pytest

import confx.costmodel
import confx.envs

PROBE = """
import importlib, json, sys
before = {m.split('.')[0] for m in sys.modules}
for name in sys.argv[2:]:
    importlib.import_module(name)
baseline = set(json.loads(sys.argv[1]))
loaded = {m.split('.')[0] for m in sys.modules} - before
print(json.dumps(sorted(loaded - baseline - set(sys.stdlib_module_names) - {'confx'})))
"""


def _modules(package: object) -> list[str]:
    names = [package.__name__]  # type: ignore[attr-defined]
    for info in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}."):  # type: ignore[attr-defined]
        names.append(info.name)
    return names


def _top_level_modules_of(*imports: str) -> set[str]:
    """What importing these (third-party) modules loads, by top-level name."""
    code = "import sys, json\n" + "".join(f"import {name}\n" for name in imports)
    code += "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    return set(json.loads(done.stdout))


def _extra_imports(modules: list[str], allowed: set[str]) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(sorted(allowed)), *modules],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_costmodel_imports_numpy_only() -> None:
    assert _extra_imports(_modules(confx.costmodel), _top_level_modules_of("numpy")) == []


def test_envs_imports_numpy_and_gymnasium_only() -> None:
    assert _extra_imports(_modules(confx.envs), _top_level_modules_of("numpy", "gymnasium")) == []


@pytest.mark.parametrize("module", ["confx.pipeline.search.population_tasks", "confx.pipeline.search.ga_stage"])
def test_ga_task_path_imports_neither_torch_nor_rllib(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] == 'torch' or m.startswith('ray.rllib'))\n"
        "assert not heavy, heavy[:5]\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_settings_registry_imports_nothing_heavy() -> None:
    """Configs are validated against the knobs without torch or Ray."""
    code = (
        "import sys, confx.pipeline.search.settings, confx.pipeline.sweep.config\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'ray', 'mlflow'})\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
