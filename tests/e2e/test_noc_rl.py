"""ConfuciuX, REINFORCE and PPO on a physical NoC with the NoC bandwidth as a per-layer decision:
the policy's heads follow the space, runs are seeded, designs stay within the budget."""

from __future__ import annotations

import numpy as np
import pytest

from confx.costmodel.presets import EDGE
from confx.envs.problem import build_problem
from confx.envs.space import design_space, named_space
from confx.pipeline.search import run_search

pytestmark = pytest.mark.slow

SPACE = design_space(named_space("grid"), hardware=EDGE, noc_bw=(1, 4, 16, 64, 256, 1024))


@pytest.mark.parametrize("algorithm", ["confuciux", "reinforce", "ppo"])
def test_rl_searches_on_a_noc_space(local_ray, algorithm: str) -> None:
    runs = []
    for _ in range(2):
        problem = build_problem("alexnet", space=SPACE, mul=0.05)
        result = run_search(problem, algorithm, seed=2, epochs=6)
        assert result.feasible and result.constraint_used <= problem.budget * (1 + 1e-12)
        assert result.design.shape == (problem.n_layers, 3)
        assert set(result.design[:, 2]) <= set(range(6))
        runs.append((result.design.tolist(), result.objective_value))
    assert runs[0] == runs[1]
    optimum = run_search(build_problem("alexnet", space=SPACE, mul=0.05), "exact", seed=0)
    assert optimum.optimal and runs[0][1] >= optimum.objective_value * (1 - 1e-12)
    assert np.isfinite(runs[0][1])
