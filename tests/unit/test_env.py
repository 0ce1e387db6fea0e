"""ConfuciuXEnv: the Gymnasium checker, hand-computed episodes, reward shaping, seeding, registration."""

from __future__ import annotations

import subprocess
import sys

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from confx import envs
from confx.costmodel import ConfXError, evaluate
from confx.envs.confuciux_env import INVALID_POINT_REWARD, ConfuciuXEnv
from confx.envs.problem import build_problem
from confx.envs.space import GRID_KTILE, GRID_NUM_PE

LAYER_A = (64, 32, 28, 28, 3, 3, 1)
LAYER_B = (128, 64, 14, 14, 3, 3, 1)
DEGENERATE_SHI = (256, 64, 13, 13, 3, 3, 1)
"""Under shi with P=12 the cost model marks this layer invalid."""


def _write_csv(path, *layers):
    rows = ["K,C,Y,X,R,S,T", *(",".join(map(str, layer)) for layer in layers)]
    path.write_text("\n".join(rows) + "\n")
    return str(path)


@pytest.fixture
def two_layer_csv(tmp_path):
    return _write_csv(tmp_path / "two.csv", LAYER_A, LAYER_B)


def _action(num_pe: int, ktile: int) -> np.ndarray:
    return np.array([GRID_NUM_PE.index(num_pe), GRID_KTILE.index(ktile)], dtype=np.int64)


def _cost(layer, num_pe, ktile, dataflow="dla"):
    """One layer's cost by hand: (valid, runtime_cycles, area, throughput)."""
    result = evaluate(np.array([layer]), dataflow, num_pe, ktile)
    return bool(result.valid[0]), float(result.runtime_cycles[0]), float(result.area[0]), float(result.throughput[0])


def _run_episode(env, actions, *, order):
    env.reset(options={"layer_order": order})
    steps = []
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        steps.append((reward, terminated, truncated, info))
        if terminated:
            break
    return steps


# --- Gymnasium checker --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config", [{"model": "resnet18_release"}, {"model": "mobilenet_v2_release", "objective": "thrpt_btnk"}]
)
def test_env_checker_passes_on_builtin_networks(config):
    check_env(ConfuciuXEnv(config), skip_render_check=True)


def test_env_checker_passes_on_tiny_csv_with_dataflow_choice(two_layer_csv):
    env = ConfuciuXEnv({"model": two_layer_csv, "choose_dataflow": True, "space": "integer", "objective": "energy"})
    assert env.action_space.nvec.tolist() == [128, 12, 3]
    assert env.observation_space.shape == (12,)
    check_env(env, skip_render_check=True)


def test_observations_stay_within_bounds_over_random_episodes():
    env = ConfuciuXEnv(model="mobilenet_v2_release", mul=1.0)
    env.action_space.seed(3)
    obs, _ = env.reset(seed=3)
    for _ in range(200):
        assert env.observation_space.contains(obs)
        obs, _, terminated, _, _ = env.step(env.action_space.sample())
        if terminated:
            assert env.observation_space.contains(obs)
            obs, _ = env.reset()


# --- observations -------------------------------------------------------------------------------


def test_observation_layout(two_layer_csv):
    env = ConfuciuXEnv({"model": two_layer_csv})
    dims = np.array([LAYER_A, LAYER_B], dtype=np.float64)
    features = dims / dims.max(axis=0)
    obs, info = env.reset(options={"layer_order": [1, 0]})
    expected = np.concatenate([features[1], [0.0], [0.0, 0.0], [1.0]]) * 2 - 1
    np.testing.assert_allclose(obs, expected.astype(np.float32))
    assert obs.dtype == np.float32
    assert info["layer_order"].tolist() == [1, 0]

    obs, *_ = env.step(_action(48, 4))
    previous = [GRID_NUM_PE.index(48) / 11, GRID_KTILE.index(4) / 11]
    expected = np.concatenate([features[0], [0.5], previous, [0.0]]) * 2 - 1
    np.testing.assert_allclose(obs, expected.astype(np.float32), rtol=1e-6)


# --- hand-computed episodes -----------------------------------------------------------------------


def test_successful_episode_by_hand(two_layer_csv):
    env = ConfuciuXEnv({"model": two_layer_csv, "objective": "latency", "constraint": "area", "mul": 0.5})
    _, runtime_b, area_b, _ = _cost(LAYER_B, 4, 2)
    _, runtime_a, area_a, _ = _cost(LAYER_A, 16, 3)
    assert area_a + area_b <= env.problem.budget

    steps = _run_episode(env, [_action(4, 2), _action(16, 3)], order=[1, 0])
    (reward_1, term_1, trunc_1, info_1), (reward_2, term_2, trunc_2, info_2) = steps
    # The first step sets the lifetime minimum: its own signed value.
    assert reward_1 == 0.0 and not term_1 and not trunc_1
    assert reward_2 == pytest.approx(-runtime_a - min(-runtime_b, -runtime_a))
    assert term_2 and not trunc_2
    assert info_1["success"] is False and info_1["layer_index"] == 1 and info_1["objective"] is None
    assert info_1["design"] is None
    assert info_1["constraint_used"] == pytest.approx(area_b)
    assert info_2["success"] is True and info_2["layer_index"] == 0
    assert info_2["constraint_used"] == pytest.approx(area_a + area_b)
    assert info_2["budget"] == pytest.approx(env.problem.budget)
    assert info_2["objective"] == pytest.approx(runtime_a + runtime_b)
    assert info_2["design"].tolist() == [[16, 3], [4, 2]]  # network order
    assert env.problem.model_evaluations == 1


def test_over_budget_episode_gets_penalty(two_layer_csv):
    env = ConfuciuXEnv({"model": two_layer_csv, "mul": 0.0})
    budget = env.problem.budget
    _, runtime_a, area_a, _ = _cost(LAYER_A, 1, 1)
    _, runtime_b, area_b, _ = _cost(LAYER_B, 128, 12)
    assert area_a <= budget < area_a + area_b

    steps = _run_episode(env, [_action(1, 1), _action(128, 12)], order=[0, 1])
    (reward_1, _, _, _), (reward_2, terminated, truncated, info) = steps
    assert reward_1 == 0.0
    shaped = -runtime_b - min(-runtime_a, -runtime_b)
    used = area_a + area_b
    assert reward_2 == pytest.approx((shaped - reward_1) * (used - budget) / budget)
    assert reward_2 > 0  # P=128 runs layer B far faster than P=1 ran layer A
    assert terminated and not truncated
    assert info["success"] is False and info["objective"] is None and info["design"] is None
    assert info["constraint_used"] == pytest.approx(used)
    assert env.problem.model_evaluations == 0


def test_over_budget_penalty_against_earlier_rewards(two_layer_csv, tmp_path):
    path = _write_csv(tmp_path / "three.csv", LAYER_A, LAYER_B, LAYER_A)
    env = ConfuciuXEnv({"model": path, "mul": 0.0})
    budget = env.problem.budget
    runtimes, areas = [], []
    for layer, num_pe in ((LAYER_A, 1), (LAYER_B, 2), (LAYER_A, 128)):
        _, runtime, area, _ = _cost(layer, num_pe, 1)
        runtimes.append(runtime)
        areas.append(area)
    assert sum(areas[:2]) <= budget < sum(areas)

    steps = _run_episode(env, [_action(1, 1), _action(2, 1), _action(128, 1)], order=[0, 1, 2])
    lowest = min(-r for r in runtimes)
    reward_2 = -runtimes[1] - min(-runtimes[0], -runtimes[1])
    expected = (-runtimes[2] - lowest - (0.0 + reward_2)) * (sum(areas) - budget) / budget
    assert [s[0] for s in steps] == pytest.approx([0.0, reward_2, expected])
    assert steps[-1][1] and not steps[-1][3]["success"]


def test_invalid_point_ends_episode_with_minus_one(tmp_path):
    path = _write_csv(tmp_path / "shi.csv", DEGENERATE_SHI, LAYER_A)
    assert not _cost(DEGENERATE_SHI, 12, 1, "shi")[0]
    env = ConfuciuXEnv({"model": path, "dataflow": "shi"})
    assert 12 in env.problem.space.num_pe

    env.reset(options={"layer_order": [0, 1]})
    _, reward, terminated, truncated, info = env.step(_action(12, 1))
    assert reward == INVALID_POINT_REWARD == -1.0
    assert terminated and not truncated
    assert info["success"] is False and info["layer_index"] == 0
    assert info["constraint_used"] == 0.0
    assert env.lowest_signed == np.inf  # an invalid point never moves the running minimum
    with pytest.raises(RuntimeError, match="reset"):
        env.step(_action(1, 1))


def test_maximised_objective_rewards_throughput(two_layer_csv):
    env = ConfuciuXEnv({"model": two_layer_csv, "objective": "thrpt_btnk"})
    _, _, _, throughput_a = _cost(LAYER_A, 2, 1)
    _, _, _, throughput_b = _cost(LAYER_B, 32, 1)
    steps = _run_episode(env, [_action(2, 1), _action(32, 1)], order=[0, 1])
    assert steps[1][0] == pytest.approx(throughput_b - min(throughput_a, throughput_b))
    assert steps[1][3]["objective"] == pytest.approx(min(throughput_a, throughput_b))


# --- running minimum, seeding -------------------------------------------------------------------


def test_running_minimum_persists_across_episodes(two_layer_csv):
    env = ConfuciuXEnv({"model": two_layer_csv})
    _, slow_a, _, _ = _cost(LAYER_A, 1, 1)
    _, fast_a, _, _ = _cost(LAYER_A, 64, 1)
    assert fast_a < slow_a
    _run_episode(env, [_action(1, 1), _action(1, 1)], order=[0, 1])
    lowest = env.lowest_signed
    assert lowest <= -slow_a

    steps = _run_episode(env, [_action(64, 1)], order=[0, 1])
    assert steps[0][0] == pytest.approx(-fast_a - lowest)
    assert steps[0][0] > 0  # a fresh env would give 0 here
    assert env.lowest_signed == lowest
    fresh = ConfuciuXEnv({"model": two_layer_csv})
    assert _run_episode(fresh, [_action(64, 1)], order=[0, 1])[0][0] == 0.0


def test_same_seed_same_episode():
    actions = np.random.default_rng(0).integers(0, 12, size=(20, 2))
    runs = []
    for _ in range(2):
        env = ConfuciuXEnv({"model": "resnet18_release", "mul": 1.0})
        obs, info = env.reset(seed=11)
        trace = [(obs, None)]
        for action in actions:
            obs, reward, terminated, _, _ = env.step(action)
            trace.append((obs, reward))
            if terminated:
                break
        runs.append((info["layer_order"], trace))
    (order_1, trace_1), (order_2, trace_2) = runs
    assert order_1.tolist() == order_2.tolist()
    assert sorted(order_1.tolist()) == list(range(20))
    assert len(trace_1) == len(trace_2)
    for (obs_1, reward_1), (obs_2, reward_2) in zip(trace_1, trace_2, strict=True):
        np.testing.assert_array_equal(obs_1, obs_2)
        assert reward_1 == reward_2


def test_layer_order_is_redrawn_every_episode():
    env = ConfuciuXEnv({"model": "resnet18_release"})
    orders = {tuple(env.reset(seed=5)[1]["layer_order"].tolist())}
    for _ in range(3):
        orders.add(tuple(env.reset()[1]["layer_order"].tolist()))
    assert len(orders) == 4


# --- configuration and registration -------------------------------------------------------------


def test_keyword_options_and_prebuilt_problem(two_layer_csv):
    env = ConfuciuXEnv({"model": two_layer_csv, "mul": 0.2}, objective="energy", mul=0.7)
    assert env.problem.objective == "energy" and env.problem.spec.mul == 0.7
    problem = build_problem(two_layer_csv)
    shared = ConfuciuXEnv({"problem": problem})
    assert shared.problem is problem
    _run_episode(shared, [_action(4, 1), _action(4, 1)], order=[0, 1])
    assert problem.model_evaluations == 1 and problem.cost_model_calls > 0


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "needs 'model'"),
        ({"model": "resnet18_release", "epochs": 3}, "unknown env config key"),
        ({"model": "resnet18_release", "problem": None}, "together with"),
        ({"model": "resnet18_release", "dataflow": "xyz"}, "dataflow 'xyz' is unknown"),
    ],
)
def test_bad_config_raises_confx_error(config, message):
    with pytest.raises(ConfXError, match=message):
        ConfuciuXEnv(config)


def test_bad_action_and_order_raise(two_layer_csv):
    env = ConfuciuXEnv({"model": two_layer_csv})
    with pytest.raises(ValueError, match="permutation"):
        env.reset(options={"layer_order": [0, 0]})
    env.reset(seed=0)
    with pytest.raises(ValueError, match="outside"):
        env.step(np.array([12, 0]))


def test_gymnasium_make(two_layer_csv):
    env = gymnasium.make("confx.envs.registration:ConfX/ConfuciuX-v0", config={"model": two_layer_csv}, mul=0.3)
    assert env.unwrapped.problem.spec.mul == 0.3
    env.reset(seed=0)
    env.step(env.action_space.sample())
    envs.register_envs()
    again = gymnasium.make(envs.ENV_ID, config={"model": "resnet18_release"})
    assert isinstance(again.unwrapped, ConfuciuXEnv)
    check_env(again.unwrapped, skip_render_check=True)


def test_env_module_imports_neither_torch_nor_ray():
    code = (
        "import sys, confx.envs.problem\n"
        "assert 'gymnasium' not in sys.modules, 'confx.envs.problem pulled in gymnasium'\n"
        "import confx.envs.confuciux_env\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'ray'})\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
