"""Start or join Ray once per process: a sweep's driver, a search on its own, a Tune trial."""

from __future__ import annotations

import ray


def ensure_ray(address: str | None = None) -> None:
    """Join the Ray cluster at ``address``, or start a local Ray, unless this process is already connected.

    Inside a Tune trial Ray is already initialised and nothing happens.
    """
    if ray.is_initialized():
        return
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
