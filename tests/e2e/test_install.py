"""The wheel in a fresh virtualenv: one import name, ``confx``, and nothing generic at the top level."""

from __future__ import annotations

import subprocess
import venv
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def test_pip_install_gives_confx_and_no_generic_top_level_packages(tmp_path: Path) -> None:
    env = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env)
    python = env / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    # The package alone (its dependencies are the project's pinned stack, tested elsewhere), plus numpy
    # to import the cost model from the installed copy.
    subprocess.run([*pip, "--no-deps", str(ROOT)], check=True, cwd=tmp_path, timeout=600)
    subprocess.run([*pip, "numpy>=2,<3"], check=True, cwd=tmp_path, timeout=600)
    code = (
        "import importlib.util, pathlib, confx, confx.costmodel, confx.costmodel.layers as layers\n"
        "assert all(importlib.util.find_spec(name) is None for name in ('costmodel', 'envs', 'pipeline'))\n"
        "assert 'site-packages' in confx.__file__, confx.__file__\n"
        "assert 'mobilenet_v2' in layers.builtin_networks() and layers.load_network('mobilenet_v2').n_layers > 0\n"
        "templates = pathlib.Path(confx.__file__).parent / 'costmodel' / 'mappings'\n"
        "assert {'dla.m', 'dpt.m', 'eye.m', 'shi.m', 'kcp_ws.m'} <= {p.name for p in templates.glob('*.m')}\n"
        "print(int(confx.evaluate([64, 32, 56, 56, 3, 3, 1], 'dla', 16, 4).runtime_cycles[0]))\n"
    )
    done = subprocess.run([str(python), "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "3452545"
    site = next((env / "lib").glob("python3*/site-packages"))
    assert not {"costmodel", "envs", "pipeline"} & {p.name for p in site.iterdir()}
