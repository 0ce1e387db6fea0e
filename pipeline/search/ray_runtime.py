"""Start or join Ray once per process: a sweep's driver, a search on its own, a Tune trial."""

from __future__ import annotations

import signal
import threading

import ray

_starting: threading.Thread | None = None
"""A background start begun by :func:`start_ray_in_background`, joined by :func:`ensure_ray`."""
_start_error: list[BaseException] = []


def start_ray_in_background(address: str | None = None) -> None:
    """Begin :func:`ensure_ray` in a thread, so that Ray's start-up overlaps the caller's own.

    A local Ray takes seconds to start, most of them waiting for its processes; a search
    on its own meanwhile imports torch and RLlib and builds its problem. The next
    :func:`ensure_ray` call waits for this start (and re-raises its error).
    """
    global _starting
    if _starting is not None or ray.is_initialized():
        return

    def start() -> None:
        try:
            _connect(address)
        except BaseException as error:  # re-raised in the caller's thread by ensure_ray
            _start_error.append(error)

    _starting = threading.Thread(target=start, name="confx-ray-start", daemon=True)
    _starting.start()


def ensure_ray(address: str | None = None) -> bool:
    """Join the Ray cluster at ``address``, or start a local Ray, unless this process is already connected.

    Inside a Tune trial Ray is already initialised and nothing happens. ``ray.init`` installs its
    own SIGTERM handler (exit 1 without cleanup); the command's handler is put back, so that
    SIGTERM still ends the command cleanly (exit 143, temporary files removed, runs closed).

    Returns:
        Whether this call (or the background start it waited for) connected, so the caller may disconnect again.
    """
    global _starting
    if _starting is not None:
        _starting.join()
        _starting = None
        if _start_error:
            raise _start_error.pop()
        return True
    return _connect(address)


def _connect(address: str | None) -> bool:
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
