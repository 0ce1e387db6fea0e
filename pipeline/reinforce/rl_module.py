"""The ConfuciuX policy network as an RLlib RL module.

The release's actor: small encoders (10 units) for the layer dims, the previous
action and the step status; three 128-unit ReLU layers; an LSTM carried across
the layers of an episode; one head per action (P, B and, when chosen, the
dataflow), each a ReLU layer and a linear output, softmaxed with a temperature.
The feed-forward variant drops the LSTM: the observation already holds the
step position.

Observation layout (see ``envs.confuciux_env``): 7 normalised layer dims, the
step position, the previous action (one value per gene), the first-step flag.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.distribution.torch.torch_distribution import TorchMultiCategorical
from ray.rllib.core.rl_module.torch import TorchRLModule
from ray.rllib.utils.annotations import override
from torch import nn

from confx.pipeline.search.settings import RLSettings

LAYER_DIMS = 7
"""Leading observation entries: the layer's K C Y X R S T."""


def model_config(settings: RLSettings, *, n_layers: int) -> dict[str, Any]:
    """The policy's ``model_config`` from the RL knobs; one sequence holds a whole episode."""
    return {
        "recurrent": settings.recurrent,
        "encoder_dim": settings.encoder_dim,
        "hidden_dim": settings.hidden_dim,
        "temperature": settings.temperature,
        "max_seq_len": max(n_layers, 1),
    }


DEFAULT_MODEL_CONFIG = model_config(RLSettings(), n_layers=20)


class ConfuciuXPolicy(TorchRLModule):
    """Recurrent (default) or feed-forward policy with one softmax head per gene.

    ``model_config`` keys: ``recurrent`` (bool), ``encoder_dim``, ``hidden_dim``,
    ``temperature`` (initial softmax temperature) and ``max_seq_len`` (at least
    the number of layers, so that one episode is one sequence).
    """

    @override(TorchRLModule)
    def setup(self) -> None:
        config = {**DEFAULT_MODEL_CONFIG, **(self.model_config or {})}
        self.recurrent = bool(config["recurrent"])
        encoder_dim, hidden_dim = int(config["encoder_dim"]), int(config["hidden_dim"])
        self.head_sizes = [int(n) for n in self.action_space.nvec]
        n_genes = len(self.head_sizes)
        obs_dim = int(self.observation_space.shape[0])
        self.status_dim = obs_dim - LAYER_DIMS - n_genes
        assert self.status_dim >= 1, f"observation of size {obs_dim} too small for {n_genes} genes"

        self.encode_layer = nn.Linear(LAYER_DIMS, encoder_dim)
        self.encode_action = nn.Linear(n_genes, encoder_dim)
        self.encode_status = nn.Linear(self.status_dim, encoder_dim)
        self.trunk = nn.Sequential(
            nn.Linear(3 * encoder_dim, hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, hidden_dim),
            nn.ReLU(),
        )
        self.hidden_dim = hidden_dim
        self.lstm = nn.LSTM(hidden_dim, hidden_dim, batch_first=True) if self.recurrent else None
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Linear(hidden_dim, n), nn.ReLU(), nn.Linear(n, n)) for n in self.head_sizes
        )
        # A buffer, not a parameter: the algorithm anneals it, weight syncs carry it to env runners.
        self.register_buffer("temperature", torch.tensor(float(config["temperature"])))
        self.action_dist_cls = TorchMultiCategorical.get_partial_dist_cls(input_lens=self.head_sizes)

    def train(self, mode: bool = True) -> ConfuciuXPolicy:
        """Set the mode flag without recursing into submodules.

        The network has no dropout or batch norm, so the mode changes nothing,
        while RLlib's env runner toggles it at every step (~10% of sampling time).
        """
        self.training = mode
        return self

    def _run_lstm(
        self, hidden: torch.Tensor, h: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """LSTM over (B, T, H) from state (B, H): one fused cell call when T=1 (acting), else nn.LSTM.

        A single step through nn.LSTM costs ~4x a cell call; a whole episode through
        a Python loop of cells costs ~5x nn.LSTM's fused kernel (training).
        """
        assert self.lstm is not None, "the feed-forward policy has no LSTM"
        if hidden.shape[1] == 1:
            # all_weights[0]: weight_ih, weight_hh, bias_ih, bias_hh of the one layer, in lstm_cell's order.
            h, c = torch.lstm_cell(hidden[:, 0], (h, c), *self.lstm.all_weights[0])
            return h.unsqueeze(1), (h, c)
        hidden, (h, c) = self.lstm(hidden, (h.unsqueeze(0).contiguous(), c.unsqueeze(0).contiguous()))
        return hidden, (h.squeeze(0), c.squeeze(0))

    @override(TorchRLModule)
    def get_initial_state(self) -> dict[str, np.ndarray]:
        if not self.recurrent:
            return {}
        zeros = np.zeros(self.hidden_dim, dtype=np.float32)
        return {"h": zeros, "c": zeros.copy()}

    @override(TorchRLModule)
    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        obs = batch[Columns.OBS]
        n_genes = len(self.head_sizes)
        layer = obs[..., :LAYER_DIMS]
        status = obs[..., LAYER_DIMS : LAYER_DIMS + 1]
        previous = obs[..., LAYER_DIMS + 1 : LAYER_DIMS + 1 + n_genes]
        rest = obs[..., LAYER_DIMS + 1 + n_genes :]
        features = torch.cat(
            [self.encode_layer(layer), self.encode_action(previous), self.encode_status(torch.cat([status, rest], -1))],
            dim=-1,
        )
        hidden = self.trunk(features)
        out: dict[str, Any] = {}
        if self.recurrent:
            # obs is (B, T, D): the LSTM state is carried across the episode's layers.
            state = batch[Columns.STATE_IN]
            hidden, (h, c) = self._run_lstm(hidden, state["h"], state["c"])
            out[Columns.STATE_OUT] = {"h": h, "c": c}
        logits = torch.cat([head(hidden) for head in self.heads], dim=-1) / self.temperature
        out[Columns.ACTION_DIST_INPUTS] = logits
        return out
