"""Start or join Ray once per process: a sweep's driver, a search on its own, a Tune trial."""

from __future__ import annotations

import signal
import threading

import ray


def ensure_ray(address: str | None = None) -> bool:
    """Join the Ray cluster at ``address``, or start a local Ray, unless this process is already connected.

    Inside a Tune trial Ray is already initialised and nothing happens. ``ray.init`` installs its
    own SIGTERM handler (exit 1 without cleanup); the command's handler is put back, so that
    SIGTERM still ends the command cleanly (exit 143, temporary files removed, runs closed).

    Returns:
        Whether this call connected (so the caller may disconnect again).
    """
    if ray.is_initialized():
        return False
    in_main_thread = threading.current_thread() is threading.main_thread()
    on_sigterm = signal.getsignal(signal.SIGTERM) if in_main_thread else None
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    if on_sigterm is not None:
        signal.signal(signal.SIGTERM, on_sigterm)
    return True
