"""REINFORCE in a plain torch loop against the RLlib RL stage: the same algorithm, timed and scored side by side.

The plain loop is the speed baseline of the RLlib implementation, and it tells
whether a quality gap comes from the algorithm or from RLlib. It reuses every
piece that is not RLlib machinery: the env class (stepped directly), the
policy network (``ConfuciuXPolicy``, constructed directly and called through
``_forward``), the action distribution class of the module, the learner's
``normalised_returns`` and the ``EpisodeLog`` bookkeeping. Per episode it:

1. resets the env with the seed (as RLlib's env runner does before every whole-episode sample) and
   acts step by step through the module's ``forward_exploration`` (the call RLlib's env runner
   makes: fused logits and a sampled action), carrying the LSTM state from layer to layer;
2. recomputes the log-probabilities of the episode in one forward over the whole
   sequence from the zero state, as RLlib's learner does (the acting pass is not reused);
3. takes one Adam step (lr 1e-3) on ``-sum(log pi(a_t) * G_t)``, clipping the gradient
   norm at 100 for the network and 10 for the LSTM;
4. after the first success, every 100 episodes multiplies the lr by 0.8 (floor 1e-6)
   and divides the temperature by 1.01 (floor 1), as ``Reinforce._record_episodes``.

Episodes/s (and env steps per CPU second, the fair rate when the two sides' episodes end
at different lengths) exclude one-time start-up (torch's lazy imports, ray.init and the
algorithm build for RLlib; env and network construction for the plain loop),
printed separately. Rates are given per wall second and per CPU second of this
process (the latter is robust to other load; with no remote env runners and no
remote learner RLlib runs in this process too). The RLlib side calls
``run_rl_stage`` itself; its ``train()`` calls are timed through a temporary
wrapper so that the build inside it can be told apart. Each seed gets fresh
problems, so both sides start with an empty cost-model memo.

Usage: python benchmarks/plain_reinforce.py [--model mobilenet_v2_release] [--dataflow dla] [--episodes 333]
[--seeds 1] [--compare-rllib]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from ray.rllib.core.columns import Columns  # noqa: E402

from confx.envs.confuciux_env import ConfuciuXEnv  # noqa: E402
from confx.envs.problem import Problem, build_problem  # noqa: E402
from confx.pipeline.reinforce.algorithm import ReinforceConfig  # noqa: E402
from confx.pipeline.reinforce.episode_log import EpisodeLog  # noqa: E402
from confx.pipeline.reinforce.learner import normalised_returns  # noqa: E402
from confx.pipeline.reinforce.rl_module import DEFAULT_MODEL_CONFIG, ConfuciuXPolicy  # noqa: E402
from confx.pipeline.search.confuciux import env_config, run_rl_stage  # noqa: E402
from confx.pipeline.search.ray_runtime import ensure_ray  # noqa: E402
from confx.pipeline.search.settings import RLSettings  # noqa: E402

# The release's knobs, read from the RLlib config so that both sides share one source.
KNOBS = ReinforceConfig()


def clock() -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process): CPU time is robust to other load on the machine."""
    return time.perf_counter(), time.process_time()


@dataclass
class StageRun:
    """One RL stage run: best objective and timings (seconds; the loop excludes start-up)."""

    best_objective: float
    episodes: int
    steps: int
    successes: int | None
    startup_s: float
    loop_s: float
    loop_cpu_s: float

    @property
    def episodes_per_s(self) -> float:
        return self.episodes / self.loop_s

    @property
    def episodes_per_cpu_s(self) -> float:
        return self.episodes / self.loop_cpu_s

    @property
    def steps_per_cpu_s(self) -> float:
        """Env steps per CPU second: the fair rate when the two sides' episodes end at different lengths."""
        return self.steps / self.loop_cpu_s


# --- plain torch loop -------------------------------------------------------------------------


def build_policy(env: ConfuciuXEnv) -> ConfuciuXPolicy:
    """The product's network with the RL stage's model config (one episode = one sequence)."""
    model_config = {**DEFAULT_MODEL_CONFIG, "max_seq_len": max(env.problem.n_layers, 1)}
    return ConfuciuXPolicy(
        observation_space=env.observation_space, action_space=env.action_space, model_config=model_config
    )


def zero_state(module: ConfuciuXPolicy) -> dict[str, torch.Tensor]:
    """The initial LSTM state with a batch axis, shapes (1, hidden_dim)."""
    return {key: torch.from_numpy(value)[None] for key, value in module.get_initial_state().items()}


def act_episode(
    env: ConfuciuXEnv, module: ConfuciuXPolicy, seed: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """Play one episode, sampling from the policy with the LSTM state carried across layers.

    Returns:
        Observations (T, obs_dim) float32, actions (T, n_genes) int64, rewards (T,) and the last info.
    """
    obs, _ = env.reset(seed=seed)
    state = zero_state(module)
    observations, actions, rewards = [], [], []
    done, info = False, {}
    while not done:
        # The module's own acting step (the same call RLlib's env runner makes): logits and a sampled action.
        out = module.forward_exploration({Columns.OBS: torch.from_numpy(obs)[None, None], Columns.STATE_IN: state})
        state = out[Columns.STATE_OUT]
        action = out[Columns.ACTIONS][0, 0].numpy()
        observations.append(obs)
        actions.append(action)
        obs, reward, terminated, truncated, info = env.step(action)
        rewards.append(reward)
        done = terminated or truncated
    return np.stack(observations), np.stack(actions), np.asarray(rewards), info


def update(
    module: ConfuciuXPolicy,
    optimizer: torch.optim.Optimizer,
    episode: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> float:
    """One REINFORCE step on one episode; log-probs recomputed over the whole sequence. Returns the loss."""
    observations, actions, rewards = episode
    returns = torch.from_numpy(normalised_returns(rewards, KNOBS.gamma).astype(np.float32))
    out = module._forward({Columns.OBS: torch.from_numpy(observations)[None], Columns.STATE_IN: zero_state(module)})
    dist = module.get_train_action_dist_cls().from_logits(out[Columns.ACTION_DIST_INPUTS])
    log_probs = dist.logp(torch.from_numpy(actions)[None])[0]
    loss = -(log_probs * returns).sum()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    # Param group 0 is the network (clip 100), group 1 the LSTM (clip 10), as the learner's two optimizers.
    for group, clip in zip(optimizer.param_groups, (KNOBS.network_grad_clip, KNOBS.lstm_grad_clip), strict=True):
        torch.nn.utils.clip_grad_norm_(group["params"], clip)
    optimizer.step()
    return loss.item()


def build_optimizer(module: ConfuciuXPolicy) -> torch.optim.Adam:
    """Adam with the network and the LSTM as separate groups (Adam is per parameter: same as two optimizers)."""
    lstm_ids = {id(p) for p in module.lstm.parameters()}
    network = [p for p in module.parameters() if id(p) not in lstm_ids]
    return torch.optim.Adam([{"params": network}, {"params": list(module.lstm.parameters())}], lr=KNOBS.lr)


def decay(module: ConfuciuXPolicy, optimizer: torch.optim.Optimizer) -> None:
    """The release's schedule step: lr x 0.8 (floor 1e-6), temperature / 1.01 (floor 1)."""
    for group in optimizer.param_groups:
        group["lr"] = max(KNOBS.lr_floor, group["lr"] * KNOBS.lr_decay)
    temperature = max(KNOBS.temperature_floor, float(module.temperature) / KNOBS.temperature_decay)
    module.temperature.fill_(temperature)


def warm_up_torch() -> float:
    """Pay torch's one-time lazy imports (the first Adam costs ~1 s) before any timed run; return the seconds."""
    start = time.perf_counter()
    torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=KNOBS.lr)
    return time.perf_counter() - start


def run_plain(problem: Problem, *, episodes: int, seed: int) -> StageRun:
    """The RL stage as a plain torch loop on a fresh env of the same problem."""
    start = time.perf_counter()
    torch.manual_seed(seed)
    env = ConfuciuXEnv(env_config(problem))
    module = build_policy(env)
    optimizer = build_optimizer(module)
    log = EpisodeLog.for_objective(problem.objective)
    steps = 0
    loop_start, loop_cpu_start = clock()
    for _ in range(episodes):
        # Seeded at every episode, as RLlib's env runner resets when it samples whole episodes.
        observations, actions, rewards, info = act_episode(env, module, seed)
        steps += len(actions)
        update(module, optimizer, (observations, actions, rewards))
        log.record(info)
        # Same test as Reinforce._record_episodes: decays at episodes 99, 199, ... once one succeeded.
        if log.successes and (log.episodes + 1) % KNOBS.schedule_every == 0:
            decay(module, optimizer)
    loop_end, loop_cpu_end = clock()
    return StageRun(
        log.best_objective,
        log.episodes,
        steps,
        log.successes,
        loop_start - start,
        loop_end - loop_start,
        loop_cpu_end - loop_cpu_start,
    )


# --- RLlib ------------------------------------------------------------------------------------


@contextmanager
def timed_train_calls() -> Iterator[list[tuple[tuple[float, float], tuple[float, float]]]]:
    """Record the :func:`clock` at the start and end of every ``Reinforce.train`` call while the context is open."""
    from confx.pipeline.reinforce.algorithm import Reinforce

    spans: list[tuple[tuple[float, float], tuple[float, float]]] = []
    own = Reinforce.__dict__.get("train")
    inherited = Reinforce.train

    def train(self: Any, *args: Any, **kwargs: Any) -> Any:
        begin = clock()
        try:
            return inherited(self, *args, **kwargs)
        finally:
            spans.append((begin, clock()))

    Reinforce.train = train
    try:
        yield spans
    finally:
        # Trap: train is inherited, so restoring means deleting our override, not assigning the base function.
        if own is None:
            del Reinforce.train
        else:
            Reinforce.train = own


@contextmanager
def counted_env_steps() -> Iterator[list[int]]:
    """Collect the length of every episode the RLlib env runner samples while the context is open."""
    from confx.pipeline.reinforce.env_runner import EpisodeEnvRunner

    lengths: list[int] = []
    sample_episode = EpisodeEnvRunner._sample_episode

    def counted(self: Any) -> Any:
        episode = sample_episode(self)
        lengths.append(len(episode))
        return episode

    EpisodeEnvRunner._sample_episode = counted  # type: ignore[method-assign]
    try:
        yield lengths
    finally:
        EpisodeEnvRunner._sample_episode = sample_episode  # type: ignore[method-assign]


def run_rllib(problem: Problem, *, episodes: int, seed: int) -> StageRun:
    """The product's RL stage (``run_rl_stage``); start-up is everything before the first ``train()``."""
    start = time.perf_counter()
    with timed_train_calls() as spans, counted_env_steps() as lengths:
        outcome = run_rl_stage(problem, episodes=episodes, seed=seed, settings=RLSettings())
    # The loop runs from the first train() to the end of the last: it includes run_rl_stage's own
    # per-iteration bookkeeping, but not the memo merge and algo.stop() after it.
    (first_wall, first_cpu), (last_wall, last_cpu) = spans[0][0], spans[-1][1]
    # RLOutcome does not count successful episodes: None.
    return StageRun(
        outcome.objective,
        outcome.episodes,
        sum(lengths),
        None,
        first_wall - start,
        last_wall - first_wall,
        last_cpu - first_cpu,
    )


# --- report -----------------------------------------------------------------------------------


def exact_optimum(model: str, dataflow: str) -> float | None:
    """The exact solver's optimum of the problem, or None if the solver module is absent."""
    if importlib.util.find_spec("confx.pipeline.search.exact") is None:
        return None
    from confx.pipeline.search.exact import search

    return float(search(build_problem(model, dataflow=dataflow), seed=0).objective_value)


def gap(objective: float, optimum: float | None, sense: str) -> str:
    """Optimality gap in percent (positive = worse than the optimum)."""
    if optimum is None or math.isnan(objective):
        return "-"
    worse = objective - optimum if sense == "min" else optimum - objective
    return f"{100 * worse / abs(optimum):.2f}%"


def table_row(seed: int | str, plain: StageRun, rllib: StageRun | None, optimum: float | None, sense: str) -> str:
    """One markdown table row: the plain loop's rates and best, then RLlib's and the ratios (when run)."""
    cells = [
        str(seed),
        f"{plain.episodes_per_s:.1f}",
        f"{plain.episodes_per_cpu_s:.1f}",
        f"{plain.steps_per_cpu_s:.0f}",
    ]
    cells += [f"{plain.best_objective:.6g}", gap(plain.best_objective, optimum, sense)]
    if rllib is not None:
        cells += [f"{rllib.episodes_per_s:.1f}", f"{rllib.episodes_per_cpu_s:.1f}", f"{rllib.steps_per_cpu_s:.0f}"]
        cells += [f"{plain.episodes_per_s / rllib.episodes_per_s:.2f}x"]
        cells += [f"{plain.episodes_per_cpu_s / rllib.episodes_per_cpu_s:.2f}x"]
        cells += [f"{plain.steps_per_cpu_s / rllib.steps_per_cpu_s:.2f}x"]
        cells += [f"{rllib.best_objective:.6g}", gap(rllib.best_objective, optimum, sense), f"{rllib.startup_s:.2f}"]
    return "| " + " | ".join(cells) + " |"


def pooled(runs: list[StageRun]) -> StageRun:
    """All seeds as one run: summed episodes and times, the mean best objective."""
    best = float(np.mean([run.best_objective for run in runs]))
    return StageRun(
        best,
        sum(r.episodes for r in runs),
        sum(r.steps for r in runs),
        None,
        sum(r.startup_s for r in runs) / len(runs),
        sum(r.loop_s for r in runs),
        sum(r.loop_cpu_s for r in runs),
    )


def time_whole_search(model: str, dataflow: str, seed: int = 1) -> None:
    """Wall and CPU time of one ConfuciuX search as a user runs it: a fresh ``confx search`` process."""
    import json
    import resource
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    confx = Path(sys.executable).with_name("confx")
    with tempfile.TemporaryDirectory() as out:
        command = [str(confx), "search", "--model", model, "--dataflow", dataflow, "--algorithm", "confuciux"]
        command += ["--seed", str(seed), "--out", out]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        summary = json.loads(Path(out, "summary.json").read_text())
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(
        f"one search: `{' '.join(command[1:-1])} DIR`: {wall:.1f} s wall (start-up included), "
        f"{cpu:.1f} CPU-s in the process (Ray's own processes not counted), search itself "
        f"{summary['wall_time_s']:.1f} s, objective {summary['objective_value']:.6g}, "
        f"{summary['model_evaluations']:,} model evaluations"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mobilenet_v2_release")
    parser.add_argument("--dataflow", default="dla")
    parser.add_argument("--episodes", type=int, default=333, help="RL episodes (333: the RL stage of E=500)")
    parser.add_argument("--seeds", type=int, default=1, help="run seeds 0 .. SEEDS-1")
    parser.add_argument("--compare-rllib", action="store_true", help="also run run_rl_stage on RLlib")
    parser.add_argument(
        "--time-search",
        action="store_true",
        help="first time one `confx search --algorithm confuciux` on --model (a fresh process, start-up included)",
    )
    args = parser.parse_args()
    if args.time_search:
        time_whole_search(args.model, args.dataflow)
    # Batch-1 inference of a small net: a second intra-op thread only adds synchronisation (~10x slower).
    torch.set_num_threads(1)

    print(f"torch warm-up: {warm_up_torch():.2f} s (once per process, not in any rate)")
    problem = build_problem(args.model, dataflow=args.dataflow)
    optimum = exact_optimum(args.model, args.dataflow)
    print(
        f"problem: {args.model} {args.dataflow} {problem.objective}/{problem.spec.constraint} "
        f"mul={problem.spec.mul}, {problem.n_layers} layers, {args.episodes} episodes, 1 episode per update; "
        f"exact optimum: {optimum}"
    )
    if args.compare_rllib:
        ray_start = time.perf_counter()
        ensure_ray()
        print(f"ray.init: {time.perf_counter() - ray_start:.2f} s (once per process, not in any rate)")

    header = ["seed", "plain ep/s", "plain ep/CPU-s", "plain steps/CPU-s", "plain best", "plain gap"]
    if args.compare_rllib:
        header += [
            "RLlib ep/s",
            "RLlib ep/CPU-s",
            "RLlib steps/CPU-s",
            "plain/RLlib wall",
            "plain/RLlib CPU",
            "plain/RLlib CPU per step",
            "RLlib best",
            "RLlib gap",
            "RLlib build s",
        ]
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    plain_runs, rllib_runs = [], []
    for seed in range(args.seeds):
        # Fresh problems: each side starts with an empty cost-model memo.
        plain = run_plain(build_problem(args.model, dataflow=args.dataflow), episodes=args.episodes, seed=seed)
        plain_runs.append(plain)
        print(
            f"seed {seed} plain: {plain.loop_s:.2f} s ({plain.loop_cpu_s:.2f} CPU-s) for {plain.episodes} "
            f"episodes ({plain.successes} successful), start-up {plain.startup_s:.3f} s, "
            f"best {plain.best_objective:.6g}"
        )
        rllib = None
        if args.compare_rllib:
            rllib = run_rllib(build_problem(args.model, dataflow=args.dataflow), episodes=args.episodes, seed=seed)
            rllib_runs.append(rllib)
            print(
                f"seed {seed} RLlib: {rllib.loop_s:.2f} s ({rllib.loop_cpu_s:.2f} CPU-s) for {rllib.episodes} "
                f"episodes, build {rllib.startup_s:.2f} s, best {rllib.best_objective:.6g}"
            )
        rows.append(table_row(seed, plain, rllib, optimum, problem.sense))
    if args.seeds > 1:
        rllib_all = pooled(rllib_runs) if rllib_runs else None
        rows.append(table_row("all (rates pooled, best = mean)", pooled(plain_runs), rllib_all, optimum, problem.sense))
    print()
    print("\n".join(rows))


if __name__ == "__main__":
    main()
