"""Register the ConfuciuX environment with Gymnasium.

Importing this module registers ``ConfX/ConfuciuX-v0``, so Gymnasium's
``module:id`` form works without any other import::

    gymnasium.make("confx.envs.registration:ConfX/ConfuciuX-v0", config={"model": "resnet18"})

The env config goes in the ``config`` keyword (a dict with the keys listed in
:mod:`envs.confuciux_env`); further keywords are merged over it. Registration
is also done by importing :mod:`envs.confuciux_env` or calling
:func:`envs.register_envs`. The package ``envs`` itself does not import
Gymnasium, so GA workers that only need :mod:`envs.problem` stay light.
"""

from __future__ import annotations

import gymnasium

from confx.envs import ENV_ID

ENTRY_POINT = "confx.envs.confuciux_env:ConfuciuXEnv"


def register_envs() -> None:
    """Register :data:`ENV_ID` with Gymnasium (idempotent)."""
    if ENV_ID not in gymnasium.registry:
        gymnasium.register(id=ENV_ID, entry_point=ENTRY_POINT)


register_envs()
