"""REINFORCE's learner: the release's normalised returns and its loss.

Per episode, the rewards are z-normalised, discounted with ``gamma`` and the
returns z-normalised again (a per-episode baseline); the loss is
``-sum(log pi(a_t) * G_t)`` per episode, averaged over the episodes of the
batch. Gradients are clipped per parameter group: the LSTM at 10, the rest
at 100, as in the release.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.signal
import torch
from ray.rllib.connectors.connector_v2 import ConnectorV2
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.torch.torch_learner import TorchLearner
from ray.rllib.utils.annotations import override

NORMALISED_RETURNS = "normalised_returns"
"""Batch column holding each step's normalised return."""
EPSILON = 2.0**-12
"""Added to standard deviations, as in the release."""
LSTM_OPTIMIZER, NETWORK_OPTIMIZER = "lstm", "network"


def normalised_returns(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """Z-normalise rewards, discount them to returns, z-normalise the returns.

    Args:
        rewards: One episode's rewards, shape (T,).
        gamma: Discount factor.

    Returns:
        Normalised returns, shape (T,).
    """
    rewards = np.asarray(rewards, dtype=np.float64)
    rewards = (rewards - rewards.mean()) / (rewards.std() + EPSILON)
    returns = scipy.signal.lfilter([1.0], [1.0, -gamma], rewards[::-1])[::-1]
    return (returns - returns.mean()) / (returns.std() + EPSILON)


class AddNormalisedReturns(ConnectorV2):
    """Learner connector piece: adds :data:`NORMALISED_RETURNS` for every episode step."""

    def __init__(self, input_observation_space: Any = None, input_action_space: Any = None, *, gamma: float) -> None:
        super().__init__(input_observation_space, input_action_space)
        self.gamma = gamma

    @override(ConnectorV2)
    def __call__(self, *, rl_module: Any, episodes: Any, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        for episode in self.single_agent_episode_iterator(episodes, agents_that_stepped_only=False):
            self.add_n_batch_items(
                batch=batch,
                column=NORMALISED_RETURNS,
                items_to_add=normalised_returns(episode.get_rewards(), self.gamma).astype(np.float32),
                num_items=len(episode),
                single_agent_episode=episode,
            )
        return batch


class ReinforceLearner(TorchLearner):
    """Computes the REINFORCE loss; clips LSTM and network gradients separately."""

    @override(TorchLearner)
    def build(self) -> None:
        super().build()
        if self.config.add_default_connectors_to_learner_pipeline:
            self._learner_connector.prepend(AddNormalisedReturns(gamma=self.config.gamma))

    @override(TorchLearner)
    def configure_optimizers_for_module(self, module_id: str, config: Any = None) -> None:
        module = self._module[module_id]
        lstm = list(module.lstm.parameters()) if module.lstm is not None else []
        lstm_ids = {id(p) for p in lstm}
        network = [p for p in self.get_parameters(module) if id(p) not in lstm_ids]
        groups = [(NETWORK_OPTIMIZER, network), (LSTM_OPTIMIZER, lstm)]
        for name, params in groups:
            if params:
                self.register_optimizer(
                    module_id=module_id,
                    optimizer_name=name,
                    optimizer=torch.optim.Adam(params, lr=config.lr),
                    params=params,
                    # No RLlib schedule: it would reset the rate after every update,
                    # and the release's decay is driven by episodes (scale_learning_rate).
                    lr_or_lr_schedule=None,
                )

    @override(TorchLearner)
    def compute_loss_for_module(self, *, module_id: str, config: Any, batch: dict, fwd_out: dict) -> torch.Tensor:
        module = self.module[module_id]
        dist = module.get_train_action_dist_cls().from_logits(fwd_out[Columns.ACTION_DIST_INPUTS])
        log_probs = dist.logp(batch[Columns.ACTIONS])
        weighted = log_probs * batch[NORMALISED_RETURNS]
        if Columns.LOSS_MASK in batch:
            weighted = weighted * batch[Columns.LOSS_MASK]
        n_episodes = max(1, int(getattr(self.config, "episodes_per_update", 1)))
        loss = -weighted.sum() / n_episodes
        self.metrics.log_value((module_id, "policy_loss"), loss.detach(), window=1)
        return loss

    @override(TorchLearner)
    def postprocess_gradients_for_module(
        self, *, module_id: str, config: Any = None, module_gradients_dict: dict
    ) -> dict:
        clip_norms = {NETWORK_OPTIMIZER: config.network_grad_clip, LSTM_OPTIMIZER: config.lstm_grad_clip}
        for name, optimizer in self.get_optimizers_for_module(module_id):
            grads = self.filter_param_dict_for_optimizer(module_gradients_dict, optimizer)
            torch.nn.utils.clip_grad_norm_([g for g in grads.values() if g is not None], clip_norms[name])
        return module_gradients_dict

    def scale_learning_rate(self, factor: float, floor: float) -> float:
        """Multiply every optimizer's learning rate by factor, not below floor; return the new rate."""
        lr = floor
        for module_id in self.module.keys():
            for _, optimizer in self.get_optimizers_for_module(module_id):
                lr = max(floor, self._get_optimizer_lr(optimizer) * factor)
                self._set_optimizer_lr(optimizer, lr)
        return lr
