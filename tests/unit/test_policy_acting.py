"""The policy's fused acting step: the same logits and LSTM state as its training forward, and
actions drawn from the softmax of those logits."""

from __future__ import annotations

import numpy as np
import torch
from ray.rllib.core.columns import Columns

from confx.envs.confuciux_env import ConfuciuXEnv
from confx.pipeline.reinforce.rl_module import DEFAULT_MODEL_CONFIG, ConfuciuXPolicy


def _policy_and_step(recurrent: bool = True) -> tuple[ConfuciuXPolicy, dict]:
    torch.manual_seed(0)
    env = ConfuciuXEnv({"model": "resnet18_release", "dataflow": "dla"})
    policy = ConfuciuXPolicy(
        observation_space=env.observation_space,
        action_space=env.action_space,
        model_config={**DEFAULT_MODEL_CONFIG, "recurrent": recurrent, "temperature": 1.7},
    )
    observation, _ = env.reset(seed=3)
    batch = {Columns.OBS: torch.from_numpy(observation)[None, None]}
    if recurrent:
        batch[Columns.STATE_IN] = {"h": 0.3 * torch.randn(1, 128), "c": 0.3 * torch.randn(1, 128)}
    return policy, batch


def test_acting_step_equals_the_training_forward_and_follows_weight_changes():
    for recurrent in (True, False):
        policy, batch = _policy_and_step(recurrent)
        for _ in range(2):
            with torch.no_grad():
                reference = policy._forward(batch)
            acting = policy.forward_exploration(batch)
            torch.testing.assert_close(acting[Columns.ACTION_DIST_INPUTS], reference[Columns.ACTION_DIST_INPUTS])
            if recurrent:
                for key in ("h", "c"):
                    torch.testing.assert_close(acting[Columns.STATE_OUT][key], reference[Columns.STATE_OUT][key])
            assert acting[Columns.ACTIONS].shape == (1, 1, len(policy.head_sizes))
            with torch.no_grad():  # an in-place update, as an optimizer step or a weight sync makes
                policy.trunk[2].weight.mul_(1.5)
                policy.heads[0][2].bias.add_(0.7)


def test_acting_step_samples_each_head_from_its_softmax():
    policy, batch = _policy_and_step()
    torch.manual_seed(1)
    n = 5_000
    actions = np.stack([policy.forward_exploration(batch)[Columns.ACTIONS][0, 0].numpy() for _ in range(n)])
    logits = policy.forward_exploration(batch)[Columns.ACTION_DIST_INPUTS][0, 0]
    start = 0
    for head, size in enumerate(policy.head_sizes):
        expected = torch.softmax(logits[start : start + size], 0).numpy()
        observed = np.bincount(actions[:, head], minlength=size) / n
        # 4 standard errors of a frequency estimated from n draws
        assert np.all(np.abs(observed - expected) <= 4 * np.sqrt(expected * (1 - expected) / n) + 1e-3)
        start += size


def test_same_torch_seed_same_actions():
    policy, batch = _policy_and_step()
    torch.manual_seed(5)
    first = [policy.forward_exploration(batch)[Columns.ACTIONS].tolist() for _ in range(20)]
    torch.manual_seed(5)
    again = [policy.forward_exploration(batch)[Columns.ACTIONS].tolist() for _ in range(20)]
    assert first == again and len({str(a) for a in first}) > 1
