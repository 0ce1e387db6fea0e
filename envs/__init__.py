"""The ConfuciuX problem as a Gymnasium environment.

``import envs`` stays free of Gymnasium (GA workers import :mod:`envs.problem`
only); call :func:`register_envs` (or import :mod:`envs.registration` or
:mod:`envs.confuciux_env`) before ``gymnasium.make("ConfX/ConfuciuX-v0", config={...})``.
"""

from __future__ import annotations

ENV_ID = "ConfX/ConfuciuX-v0"
"""Gymnasium id of the ConfuciuX environment (registered by :func:`register_envs`)."""


def register_envs() -> None:
    """Register the ConfuciuX environment with Gymnasium (idempotent; imports Gymnasium)."""
    from confx.envs.registration import register_envs as register

    register()


__all__ = ["ENV_ID", "register_envs"]
