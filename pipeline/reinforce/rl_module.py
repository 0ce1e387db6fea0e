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

from dataclasses import dataclass
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
        self._acting: _ActingWeights | None = None
        self._acting_params: list[nn.Parameter] = []

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
    def _forward_exploration(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """One acting step (T=1): logits through fused weights, then one sample per head.

        The same function as :meth:`_forward`, computed with the encoders folded into
        the trunk's first layer and the heads' layers concatenated (5 matrix products
        instead of 12 module calls); actions are drawn by the Gumbel-max trick from
        torch's global generator, so RLlib's seed fixes them. Longer sequences take
        :meth:`_forward` and leave the sampling to RLlib's distribution.
        """
        obs = batch[Columns.OBS]
        if obs.dim() != 3 or obs.shape[1] != 1:
            with torch.no_grad():
                return self._forward(batch, **kwargs)
        with torch.no_grad():
            w = self._acting_weights()
            hidden = torch.relu(torch.addmm(w.trunk_bias, obs[:, 0], w.trunk_weight))
            hidden = torch.relu(torch.addmm(w.trunk2_bias, hidden, w.trunk2_weight))
            hidden = torch.relu(torch.addmm(w.trunk3_bias, hidden, w.trunk3_weight))
            out: dict[str, Any] = {}
            if self.recurrent:
                state = batch[Columns.STATE_IN]
                gates = torch.addmm(w.lstm_bias, torch.cat([hidden, state["h"]], -1), w.lstm_weight)
                i, f, g, o = gates.sigmoid().chunk(4, -1)
                c = f * state["c"] + i * (2 * g - 1)  # tanh(z) = 2 sigmoid(2z) - 1: cell rows doubled
                hidden = o * torch.tanh(c)
                out[Columns.STATE_OUT] = {"h": hidden, "c": c}
            heads = torch.relu(torch.addmm(w.head_bias, hidden, w.head_weight))
            logits = torch.addmm(w.out_bias, heads, w.out_weight) / self.temperature
            noisy = (logits - torch.log(-torch.log(torch.rand_like(logits)))).numpy()
        bounds = np.cumsum([0, *self.head_sizes])
        actions = np.stack([noisy[:, a:b].argmax(-1) for a, b in zip(bounds[:-1], bounds[1:], strict=True)], -1)
        out[Columns.ACTION_DIST_INPUTS] = logits[:, None]
        out[Columns.ACTIONS] = torch.from_numpy(actions[:, None])
        return out

    def _acting_weights(self) -> _ActingWeights:
        """The fused acting weights, rebuilt whenever a parameter changed (an update, a weight sync)."""
        if self._acting is None:
            self._acting_params = list(self.parameters())
        versions = tuple(p._version for p in self._acting_params)
        if self._acting is None or self._acting.versions != versions:
            self._acting = _ActingWeights.of(self, versions)
        return self._acting

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


@dataclass(frozen=True)
class _ActingWeights:
    """Acting-time weights of :class:`ConfuciuXPolicy`, transposed for ``addmm``.

    The three encoders are linear and feed the trunk's first linear layer, so their
    composition is one affine map of the observation; the heads' first layers share
    their input (one product), their second layers form a block-diagonal matrix.
    """

    versions: tuple[int, ...]
    trunk_weight: torch.Tensor  # (obs_dim, hidden)
    trunk_bias: torch.Tensor
    trunk2_weight: torch.Tensor
    trunk2_bias: torch.Tensor
    trunk3_weight: torch.Tensor
    trunk3_bias: torch.Tensor
    lstm_weight: torch.Tensor  # (2 hidden, 4 hidden): [input; recurrent], cell-gate columns doubled
    lstm_bias: torch.Tensor
    head_weight: torch.Tensor  # (hidden, sum(head_sizes))
    head_bias: torch.Tensor
    out_weight: torch.Tensor  # (sum(head_sizes), sum(head_sizes)), block-diagonal
    out_bias: torch.Tensor

    @classmethod
    def of(cls, module: ConfuciuXPolicy, versions: tuple[int, ...]) -> _ActingWeights:
        with torch.no_grad():
            n_genes = len(module.head_sizes)
            obs_dim = LAYER_DIMS + 1 + n_genes + module.status_dim - 1
            encoder_dim = module.encode_layer.out_features
            encoder = torch.zeros(3 * encoder_dim, obs_dim)
            action_start = LAYER_DIMS + 1
            rest_start = action_start + n_genes
            encoder[:encoder_dim, :LAYER_DIMS] = module.encode_layer.weight
            encoder[encoder_dim : 2 * encoder_dim, action_start:rest_start] = module.encode_action.weight
            status = module.encode_status.weight
            encoder[2 * encoder_dim :, LAYER_DIMS] = status[:, 0]
            encoder[2 * encoder_dim :, rest_start:] = status[:, 1:]
            encoder_bias = torch.cat([module.encode_layer.bias, module.encode_action.bias, module.encode_status.bias])
            first, second, third = (_linear(module.trunk[i]) for i in (0, 2, 4))
            heads_in = [_linear(list(head.children())[0]) for head in module.heads]
            heads_out = [_linear(list(head.children())[2]) for head in module.heads]
            lstm_weight, lstm_bias = _fused_lstm(module)
            return cls(
                versions=versions,
                trunk_weight=(first.weight @ encoder).T.contiguous(),
                trunk_bias=first.weight @ encoder_bias + first.bias,
                trunk2_weight=second.weight.T.contiguous(),
                trunk2_bias=second.bias.clone(),
                trunk3_weight=third.weight.T.contiguous(),
                trunk3_bias=third.bias.clone(),
                lstm_weight=lstm_weight,
                lstm_bias=lstm_bias,
                head_weight=torch.cat([head.weight for head in heads_in]).T.contiguous(),
                head_bias=torch.cat([head.bias for head in heads_in]),
                out_weight=torch.block_diag(*[head.weight for head in heads_out]).T.contiguous(),
                out_bias=torch.cat([head.bias for head in heads_out]),
            )


def _linear(layer: nn.Module) -> nn.Linear:
    assert isinstance(layer, nn.Linear), f"expected a linear layer, got {layer!r}"
    return layer


def _fused_lstm(module: ConfuciuXPolicy) -> tuple[torch.Tensor, torch.Tensor]:
    """One-step LSTM as one product: ``[x; h] @ W + b``, gates in torch's order i, f, g, o.

    The cell gate's columns are doubled so that one sigmoid serves all four gates
    (``tanh(z) = 2 sigmoid(2z) - 1``). Empty for the feed-forward policy.
    """
    if module.lstm is None:
        return torch.empty(0), torch.empty(0)
    w_ih, w_hh, b_ih, b_hh = module.lstm.all_weights[0]
    weight = torch.cat([w_ih, w_hh], dim=1).T.clone()  # (2 hidden, 4 hidden)
    bias = b_ih + b_hh
    hidden = module.hidden_dim
    weight[:, 2 * hidden : 3 * hidden] *= 2
    bias[2 * hidden : 3 * hidden] *= 2
    return weight.contiguous(), bias
