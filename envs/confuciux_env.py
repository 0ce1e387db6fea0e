"""The ConfuciuX MDP as a Gymnasium environment (spec ``confuciux.md`` section 2).

One episode assigns a whole model: one step per layer, in an order permuted
at every reset with the env's own ``np_random``. The action picks grid
*indices* (P, B and optionally the dataflow, NoC bandwidth and SIMD lanes: one head per
gene of the space) for the current layer; the reward
is the layer's signed objective value shifted by the lowest such value seen in
the env's lifetime, so that rewards are >= 0 and grow with better choices.
Exceeding the area/power budget ends the episode with the release's penalty;
an invalid cost-model point ends it with reward -1.

This module imports numpy, gymnasium, the cost model and ``envs`` only (no
torch, no ray), so that env runners and tests load it fast.

Configuration keys (one dict, as RLlib's ``env_config``, and/or keyword args):

* ``model`` (required unless ``problem`` is given): built-in network name or CSV path.
* ``dataflow``, ``objective``, ``constraint``, ``mul``, ``space`` (``"grid"``,
  ``"integer"`` or an :class:`~envs.space.ActionSpace`, which carries the hardware and any
  NoC/SIMD decisions), ``choose_dataflow``, ``cap``:
  passed to :func:`envs.problem.build_problem`, whose defaults apply.
* ``problem``: a prebuilt :class:`~envs.problem.Problem`, shared with the caller
  (its memo and counters see every step); excludes the keys above.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from confx.costmodel.errors import ConfXError
from confx.envs.problem import BUDGET_RTOL, Problem, build_problem
from confx.envs.registration import register_envs

logger = logging.getLogger(__name__)

PROBLEM_KEYS = ("model", "dataflow", "objective", "constraint", "mul", "space", "choose_dataflow", "cap")
"""Config keys that define the problem (passed to :func:`build_problem`)."""

INVALID_POINT_REWARD = -1.0
"""Reward of a step whose point the cost model marks invalid (the episode ends)."""


def problem_from_config(config: Mapping[str, Any]) -> Problem:
    """Build (or take) the problem an env config describes.

    Args:
        config: Keys :data:`PROBLEM_KEYS`, or ``problem`` alone.

    Returns:
        The prebuilt problem when ``problem`` is given, else a new one.

    Raises:
        ConfXError: Unknown keys, a missing ``model``, ``problem`` mixed with
            problem keys or not a :class:`Problem`, or any error of :func:`build_problem`.
    """
    problems = []
    unknown = sorted(set(config) - set(PROBLEM_KEYS) - {"problem"})
    if unknown:
        problems.append(f"unknown env config key(s) {unknown} (use {', '.join(PROBLEM_KEYS)} or problem)")
    given = [key for key in PROBLEM_KEYS if key in config]
    if "problem" in config:
        if not isinstance(config["problem"], Problem):
            problems.append(f"env config 'problem' must be an envs.problem.Problem, got {type(config['problem'])}")
        if given:
            problems.append(f"env config gives 'problem' together with {given}: give one or the other")
    elif "model" not in config:
        problems.append("env config needs 'model' (a built-in network name or a CSV path) or a prebuilt 'problem'")
    if problems:
        raise ConfXError("; ".join(problems))
    if "problem" in config:
        return config["problem"]
    options = {key: config[key] for key in given if key != "model"}
    return build_problem(str(config["model"]), **options)


def normalised_layers(dims: NDArray[np.int64]) -> NDArray[np.float64]:
    """Layer dims divided by their per-column max over the model.

    Args:
        dims: ``K C Y X R S T`` per layer, int64 shape (n_layers, 7), all >= 1.

    Returns:
        Values in (0, 1], shape (n_layers, 7).
    """
    return dims / dims.max(axis=0)


def action_fractions(action: NDArray[np.int64], sizes: NDArray[np.int64]) -> NDArray[np.float64]:
    """Grid indices as fractions of their range: index / (size - 1), 0 for a one-value gene.

    Args:
        action: Indices per gene, shape (n_genes,).
        sizes: Number of choices per gene, shape (n_genes,).

    Returns:
        Values in [0, 1], shape (n_genes,).
    """
    return action / np.maximum(sizes - 1, 1)


class ConfuciuXEnv(gymnasium.Env):
    """Assign every layer of a network its PEs and K tile (and dataflow), one step per layer.

    Observation (float32, shape (9 + n_genes,), in [-1, 1]): the current
    layer's ``K C Y X R S T`` normalised by the per-column max over the model,
    the step position (layers assigned / n_layers), the previous action as
    fractions of the grids (zeros at the first step) and a first-step flag;
    every entry mapped ``x -> 2x - 1``. After the episode ends no layer is
    left and the layer entries read -1.

    Action: ``MultiDiscrete([n_P, n_B])`` (``+ [3]`` when the dataflow is chosen),
    indices into the action space.

    Reward: ``signed - lowest signed seen so far`` (lifetime running minimum,
    kept across episodes) where ``signed`` is minus the layer's objective term
    for minimised objectives and plus it (throughput) for maximised ones. On
    exceeding the budget: ``(shaped - sum of the episode's earlier rewards) *
    (used - budget) / budget`` and the episode ends. Invalid point: -1, ends.

    Info at every step: ``success`` (only at the last step of an episode that
    stayed within budget), ``constraint_used`` (area/power so far), ``budget``,
    ``layer_index`` (network index of the layer just assigned), ``objective``
    (whole-model objective in natural units on success, else None) and
    ``design`` (values in network order, int64 shape (n_layers, n_genes), on
    success, else None). None rather than NaN, because NaN != NaN breaks
    Gymnasium's determinism checks. Reset info holds ``layer_order`` (network
    indices in the episode's step order) and ``budget``.

    Reset options: ``{"layer_order": [...]}`` fixes the episode's layer order
    (a permutation of ``range(n_layers)``) instead of drawing it.

    Attributes:
        problem: The problem (memo, counters, budget); shared if it was passed in.
        lowest_signed: Lowest signed layer value seen in the env's lifetime (+inf before any).
    """

    metadata = {"render_modes": []}

    def __init__(
        self, config: Mapping[str, Any] | None = None, *, render_mode: str | None = None, **options: Any
    ) -> None:
        """Build the env from a config dict and/or keyword options (keywords win).

        Args:
            config: Env config (RLlib's ``env_config``); see the module docstring.
            render_mode: Must be None: the env does not render.
            **options: Further config keys.

        Raises:
            ConfXError: A bad configuration (see :func:`problem_from_config`).
        """
        if render_mode is not None:
            raise ConfXError(f"ConfuciuXEnv does not render; render_mode must be None, got {render_mode!r}")
        self.render_mode = render_mode
        self.problem = problem_from_config({**dict(config or {}), **options})
        space = self.problem.space
        self._gene_sizes = np.asarray(space.gene_sizes, dtype=np.int64)
        self._layer_features = normalised_layers(self.problem.layers.dims)
        self._sign = -1.0 if self.problem.sense == "min" else 1.0
        self._budget_limit = self.problem.budget * (1 + BUDGET_RTOL)
        self.action_space = spaces.MultiDiscrete(self._gene_sizes)
        n_features = self._layer_features.shape[1] + 1 + len(self._gene_sizes) + 1
        self.observation_space = spaces.Box(-1.0, 1.0, shape=(n_features,), dtype=np.float32)
        self.lowest_signed = np.inf
        self._order = np.arange(self.problem.n_layers)
        self._start_episode(self._order)
        self._done = True

    # --- Gymnasium API ----------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[NDArray[np.float32], dict[str, Any]]:
        """Start an episode with a freshly permuted layer order (drawn from ``self.np_random``)."""
        super().reset(seed=seed)
        order = (options or {}).get("layer_order")
        if order is None:
            order = self.np_random.permutation(self.problem.n_layers)
        self._start_episode(self._checked_order(order))
        return self._observation(), {"layer_order": self._order.copy(), "budget": float(self.problem.budget)}

    def step(self, action: NDArray[np.int64]) -> tuple[NDArray[np.float32], float, bool, bool, dict[str, Any]]:
        """Assign the current layer; see the class docstring for reward, termination and info."""
        if self._done:
            raise RuntimeError("step() called on a finished episode; call reset() first")
        action = self._checked_action(action)
        layer = int(self._order[self._step])
        genes = self._genes(action)
        self._design[layer] = genes
        valid, term, used = self._layer_terms(layer, genes)
        self._step += 1
        self._previous_action = action
        success = False
        if not valid:
            reward, self._done = INVALID_POINT_REWARD, True
        else:
            reward, success = self._valid_step_reward(term, used)
        self._episode_reward_sum += reward
        return self._observation(), float(reward), self._done, False, self._info(layer, success)

    # --- episode state ----------------------------------------------------------------------

    def _start_episode(self, order: NDArray[np.int64]) -> None:
        self._order = order
        self._step = 0
        self._previous_action = np.zeros(len(self._gene_sizes), dtype=np.int64)
        self._design: NDArray[np.int64] = self.problem.uniform_design(
            min(self.problem.space.num_pe), min(self.problem.space.ktile)
        )
        self._used = 0.0
        self._episode_reward_sum: float = 0.0
        self._done = False

    def _valid_step_reward(self, term: float, used: float) -> tuple[float, bool]:
        """Shaped reward of a valid step, the over-budget penalty, and whether the episode succeeded."""
        signed = self._sign * term
        self.lowest_signed = min(self.lowest_signed, signed)
        shaped = signed - self.lowest_signed
        self._used += used
        if self._used > self._budget_limit:
            # The release's penalty: scaled by the relative overshoot, against the episode's gains.
            budget = self.problem.budget
            self._done = True
            return (shaped - self._episode_reward_sum) * (self._used - budget) / budget, False
        self._done = self._step == self.problem.n_layers
        return shaped, self._done

    def _info(self, layer: int, success: bool) -> dict[str, Any]:
        objective, design = None, None
        if success:
            design = self._design.copy()
            evaluation = self.problem.evaluate(design)
            objective = float(evaluation.objective[0])
            if not evaluation.feasible[0]:
                logger.warning("episode within budget step by step but infeasible as a whole: %s", evaluation)
        return {
            "success": success,
            "constraint_used": float(self._used),
            "budget": float(self.problem.budget),
            "layer_index": layer,
            "objective": objective,
            "design": design,
        }

    def _observation(self) -> NDArray[np.float32]:
        """Features of the layer about to be assigned, mapped x -> 2x - 1."""
        n_layers = self.problem.n_layers
        if self._done or self._step >= n_layers:
            layer_features = np.zeros(self._layer_features.shape[1])
        else:
            layer_features = self._layer_features[self._order[self._step]]
        features = np.concatenate(
            [
                layer_features,
                [self._step / n_layers],
                action_fractions(self._previous_action, self._gene_sizes),
                [1.0 if self._step == 0 else 0.0],
            ]
        )
        return np.clip(2.0 * features - 1.0, -1.0, 1.0).astype(np.float32)

    # --- helpers ----------------------------------------------------------------------------

    def _genes(self, action: NDArray[np.int64]) -> NDArray[np.int64]:
        """Action indices to gene values (P, B and the dataflow code), shape (n_genes,)."""
        return self.problem.design_from_indices(action[None, :])[0]

    def _layer_terms(self, layer: int, genes: NDArray[np.int64]) -> tuple[bool, float, float]:
        """``(valid, objective term, constraint)`` of one layer at one action, through the problem's memo."""
        valid, term, used = self.problem.layer_terms_at(np.asarray([layer]), genes[None, :])
        return bool(valid[0]), float(term[0]), float(used[0])

    def _checked_action(self, action: NDArray[np.int64]) -> NDArray[np.int64]:
        values = np.asarray(action)
        if values.shape != self._gene_sizes.shape or not np.issubdtype(values.dtype, np.integer):
            raise ValueError(f"action must be {len(self._gene_sizes)} integer indices, got {action!r}")
        if (values < 0).any() or (values >= self._gene_sizes).any():
            raise ValueError(f"action {values.tolist()} outside the grid sizes {self._gene_sizes.tolist()}")
        return values.astype(np.int64)

    def _checked_order(self, order: Any) -> NDArray[np.int64]:
        values = np.asarray(order)
        n_layers = self.problem.n_layers
        if values.shape != (n_layers,) or sorted(values.tolist()) != list(range(n_layers)):
            raise ValueError(f"layer_order must be a permutation of range({n_layers}), got {order!r}")
        return values.astype(np.int64)


register_envs()
