"""ConfuciuX+ (the variant): seeded, within its budgets, counted like every search, no exact solver inside."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from confx.costmodel.errors import ConfXError
from confx.envs.problem import GENE_KTILE, GENE_NUM_PE, build_problem
from confx.pipeline.search import run_search
from confx.pipeline.search.confuciux_plus import evaluation_budget, layer_advantages, probe_steps
from confx.pipeline.search.settings import GAStageSettings, make_settings
from confx.pipeline.sweep.config import load_sweep_config
from confx.pipeline.sweep.plan import plan_trials


def test_same_seed_same_result_other_seed_other_search() -> None:
    runs = []
    for seed in (4, 4, 5):
        problem = build_problem("resnet18", dataflow="dla")
        result = run_search(problem, "confuciux-plus", seed=seed, epochs=60)
        runs.append((result, problem.model_evaluations, problem.cost_model_calls))
    (a, evals_a, calls_a), (b, evals_b, calls_b), (c, _, _) = runs
    assert a.feasible and b.feasible
    np.testing.assert_array_equal(a.design, b.design)
    assert a.curve == b.curve and a.objective_value == b.objective_value
    assert (evals_a, calls_a) == (evals_b, calls_b)
    assert c.curve != a.curve


@pytest.mark.parametrize(
    ("model", "objective", "constraint", "mul"),
    [("mobilenet_v2", "latency", "area", 0.5), ("resnet18", "energy", "power", 0.3), ("alexnet", "LEP", "area", 0.1)],
)
def test_never_exceeds_its_evaluations_or_the_budget(model: str, objective: str, constraint: str, mul: float) -> None:
    problem = build_problem(model, dataflow="shi", objective=objective, constraint=constraint, mul=mul)
    epochs = 45
    result = run_search(problem, "confuciux-plus", seed=0, epochs=epochs)
    budget = evaluation_budget(epochs)
    assert problem.model_evaluations == budget == epochs * 2 // 3 + (epochs - epochs * 2 // 3) * 20
    assert all(count <= budget for count, _, _ in result.curve)
    assert result.feasible and result.constraint_used <= problem.budget * (1 + 1e-12)
    again = problem.evaluate(result.design, count=False)
    assert (
        again.feasible[0] and again.objective[0] == result.objective_value and again.used[0] == result.constraint_used
    )


def test_the_release_budget_is_the_faithful_confuciux_s() -> None:
    """At E = 500: 333 episodes + 167 generations of the release's 20 individuals."""
    assert evaluation_budget(500) == 333 + 167 * GAStageSettings().population == 3673


def test_counts_cost_model_calls_as_every_search_does() -> None:
    """Calls are the distinct (layer, action) cells the memo holds, the curve ends on them."""
    problem = build_problem("mobilenet_v2", dataflow="dla")
    corner_calls = problem.cost_model_calls  # the budget's four corner designs
    result = run_search(problem, "confuciux-plus", seed=1, epochs=60)
    assert problem.cost_model_calls == int(problem.memo.known.sum()) > corner_calls
    assert result.curve[-1][:2] == (problem.model_evaluations, problem.cost_model_calls)
    assert [calls for _, calls, _ in result.curve] == sorted(calls for _, calls, _ in result.curve)


def test_runs_with_the_exact_solver_unavailable() -> None:
    """A fresh interpreter where importing the exact solver (or HiGHS) fails still runs the variant."""
    script = textwrap.dedent(
        """
        import sys
        for name in ("confx.pipeline.search.exact", "confx.pipeline.search.pareto", "highspy", "scipy.optimize"):
            sys.modules[name] = None  # any import of these now raises ImportError
        from confx.costmodel.errors import ConfXError
        from confx.envs.problem import build_problem
        from confx.pipeline.search import run_search
        problem = build_problem("resnet18", dataflow="eye")
        result = run_search(problem, "confuciux-plus", seed=2, epochs=30)
        assert result.feasible, result
        assert "confx.pipeline.search.exact" not in [m for m, v in sys.modules.items() if v is not None]
        print("ok", problem.model_evaluations)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ok", str(evaluation_budget(30))]


def test_layer_advantages_credit_each_layer_its_own_choice() -> None:
    """Two designs that differ in one layer's K-tile: only that layer gets credit, the faster one positive."""
    problem = build_problem("resnet18", dataflow="dla")
    designs = np.repeat(problem.uniform_design(16, 1)[None], 2, axis=0)
    designs[1, 3, 1] = 8
    problem.evaluate(designs)
    _, term, _ = problem.layer_terms(designs)
    advantages = layer_advantages(problem, designs, multiplier=1.0)
    faster = int(np.argmin(term[:, 3]))
    assert term[0, 3] != term[1, 3] and advantages[faster, 3] > 0 > advantages[1 - faster, 3]
    np.testing.assert_array_equal(np.delete(advantages, 3, axis=1), 0.0)


def test_a_sweep_plans_it_with_its_own_settings_and_epochs(tmp_path: Path) -> None:
    config = tmp_path / "plus.yaml"
    config.write_text(
        "name: plus\nnetworks: [resnet18]\ndataflows: [dla, eye]\nseeds: [0, 1]\n"
        "algorithms:\n  - name: confuciux-plus\n    epochs: 90\n    settings: {lr: [1.0, 3.0], parents: 6}\n"
    )
    trials = plan_trials(load_sweep_config(config))
    assert len(trials) == 2 * 2 * 2 and {t.algorithm for t in trials} == {"confuciux-plus"}
    assert {t.settings["lr"] for t in trials} == {1.0, 3.0} and {t.epochs for t in trials} == {90}
    bad = tmp_path / "bad.yaml"
    bad.write_text(config.read_text().replace("parents: 6", "population: 6"))
    with pytest.raises(ConfXError, match="unknown confuciux-plus setting 'population'"):
        load_sweep_config(bad)


@pytest.mark.parametrize(
    ("dataflow", "objective", "constraint"), [("dla", "latency", "area"), ("eye", "energy", "power")]
)
def test_an_exchange_step_keeps_the_budget_and_never_loses_on_a_summed_objective(
    dataflow: str, objective: str, constraint: str
) -> None:
    """The merged design takes each layer from the parent or a probe; the objective and the budget are sums."""
    from confx.pipeline.search.base import BestTracker
    from confx.pipeline.search.confuciux_plus import exchange_step
    from confx.pipeline.search.settings import ConfuciuXPlusSettings

    problem = build_problem("resnet18", dataflow=dataflow, objective=objective, constraint=constraint, mul=0.4)
    rng = np.random.default_rng(7)
    parent = problem.uniform_design(4, 2)  # valid on every layer of both dataflows, well within the budget
    evaluation = problem.evaluate(parent)
    assert evaluation.feasible[0]
    tracker, improved = BestTracker(problem), 0
    for _ in range(30):
        before = problem.model_evaluations
        probes_and_merged = exchange_step(
            problem, tracker, parent, float(evaluation.used[0]), rng, ConfuciuXPlusSettings()
        )
        assert problem.model_evaluations == before + 3 and probes_and_merged.shape == (3, *parent.shape)
        merged = problem.evaluate(probes_and_merged[2], count=False)
        assert merged.feasible[0] and merged.objective[0] <= evaluation.objective[0] * (1 + 1e-12)
        layers_from = (probes_and_merged[2][:, None] == np.stack([parent, *probes_and_merged[:2]], axis=1)).all(axis=-1)
        assert layers_from.any(axis=1).all()  # every layer is the parent's, the down probe's or the up probe's
        improved += merged.objective[0] < evaluation.objective[0]
        parent, evaluation = probes_and_merged[2], merged
    assert improved >= 3


def test_a_layer_past_its_point_limit_is_probed_only_at_points_already_paid_for() -> None:
    """Why: the variant may make no more distinct cost-model calls than the faithful search; past
    its per-layer limit a probe must reuse what the search evaluated, so probing costs no call."""
    problem = build_problem("resnet18_release", dataflow="dla", space="integer")
    rng = np.random.default_rng(3)
    sizes = problem.space.gene_sizes
    indices = np.stack([rng.integers(0, size, (40, problem.n_layers)) for size in sizes], axis=-1)
    designs = problem.design_from_indices(indices)
    problem.evaluate(designs)
    settings = make_settings("confuciux-plus", {"points_per_layer": 1, "min_points": 0, "probe_bound_rate": 0.5})
    calls = problem.cost_model_calls
    for gene in (GENE_NUM_PE, GENE_KTILE):
        for parent in designs[:5]:
            known = problem.known_values(parent, gene)
            down, up = probe_steps(problem, parent, gene, rng, settings)
            for probe in (down, up):
                values = probe[:, gene]
                assert known[np.arange(problem.n_layers), values - 1].all()
            problem.evaluate(np.stack([down, up]))
    assert problem.cost_model_calls == calls
    assert (problem.known_points_per_layer() > 1).all()
