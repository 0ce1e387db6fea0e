"""Counts search invocations for the resume test (on PYTHONPATH only in that test's processes).

When ``CONFX_SEARCH_LOG`` names a file, every call of ``confx.pipeline.search.run_search`` in
any process of the run (the driver and every Ray worker inherit the environment) appends one
JSON line: the algorithm, the seed and whether it ran inside Ray (a trial) or in the driver
(the exact optima). The search itself runs unchanged.
"""

from __future__ import annotations

import os

if os.environ.get("CONFX_SEARCH_LOG"):
    import functools
    import json

    import confx.pipeline.search as search_package

    _run_search = search_package.run_search

    @functools.wraps(_run_search)
    def _counted(problem, algorithm, **options):  # type: ignore[no-untyped-def]
        import ray

        line = {"algorithm": algorithm, "seed": options.get("seed"), "in_ray": ray.is_initialized()}
        with open(os.environ["CONFX_SEARCH_LOG"], "a") as log:
            log.write(json.dumps(line) + "\n")
        return _run_search(problem, algorithm, **options)

    search_package.run_search = _counted
