"""The general engine on ConfuciuX's four templates agrees with the closed forms.

Why. ``costmodel.evaluate`` keeps the fast closed forms for dla/shi/eye/dpt at the release's
flags; the general engine must give the same answer there, on random layers and knobs.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from confx.costmodel.evaluate import evaluate
from confx.costmodel.general import evaluate_mapping
from confx.costmodel.mapping import load_mapping

FIELDS = ["valid", "runtime_cycles", "num_macs", "l1_bytes", "l2_bytes"]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), template=st.sampled_from(["dla", "shi", "eye", "dpt"]))
def test_templates_match_closed_forms(seed: int, template: str) -> None:
    rng = np.random.default_rng(seed)
    n = 64
    R = rng.integers(1, 6, n)
    S = rng.integers(1, 6, n)
    Y = R + rng.integers(0, 30, n)
    X = S + rng.integers(0, 30, n)
    T = np.full(n, 2 if template == "dpt" else 1)
    layers = np.stack([rng.integers(1, 70, n), rng.integers(1, 70, n), Y, X, R, S, T], axis=1)
    P, B = rng.integers(1, 129, n), rng.integers(1, 13, n)
    closed = evaluate(layers, "dla" if template == "dpt" else template, P, B)
    general = evaluate_mapping(load_mapping(template).first_dataflow, layers, P, knobs={"KTileSz": B})
    # The closed forms also flag spec 6.2's double-degenerate corner, where MAESTRO prints garbage.
    valid = closed.valid
    assert general.valid[valid].all()
    for name in FIELDS[1:]:
        np.testing.assert_array_equal(getattr(general, name)[valid], getattr(closed, name)[valid], err_msg=name)
    for name in ("energy_nj", "area", "power", "throughput"):
        np.testing.assert_allclose(getattr(general, name)[valid], getattr(closed, name)[valid], rtol=1e-12)
