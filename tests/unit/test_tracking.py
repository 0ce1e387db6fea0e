"""MLflow tracking against a real sqlite store: idempotent parent and child runs, batched values, artifacts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from confx.pipeline.results import tracking

SUMMARY = {
    "algorithm": "ga",
    "seed": 3,
    "model": "alexnet",
    "dataflow": "dla",
    "objective": "latency",
    "sense": "min",
    "constraint": "area",
    "mul": 0.5,
    "objective_value": 40.0,
    "constraint_used": 9.0e5,
    "budget": 1.0e6,
    "feasible": True,
    "optimal": False,
    "cost_model_calls": 210,
    "model_evaluations": 20,
    "wall_time_s": 1.5,
    "note": "",
    "cost_model_version": "test-1",
}
# Unsorted on purpose, with a NaN before the first feasible design and two rows at step 20.
CURVE = pd.DataFrame(
    {
        "model_evaluations": [5, 1, 12, 20, 20],
        "cost_model_calls": [50, 10, 120, 200, 210],
        "best_objective": [100.0, float("nan"), 60.0, 45.0, 40.0],
    }
).sort_values("cost_model_calls")


@dataclass(frozen=True)
class Store:
    tracking_uri: str
    experiment_id: str
    folder: Path

    @property
    def client(self) -> mlflow.MlflowClient:
        return mlflow.MlflowClient(self.tracking_uri)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """One sqlite store for the module: its first migration costs about 2 s."""
    folder = tmp_path_factory.mktemp("results")
    uri = tracking.default_tracking_uri(folder)
    return Store(uri, tracking.ensure_experiment(uri, "unit-sweep"), folder)


def solution_table() -> pd.DataFrame:
    layers = [(64, 3, 224, 224, 11, 11, 1, "dla"), (1, 48, 112, 112, 3, 3, 2, "dla")]
    return pd.DataFrame(
        [
            {
                "layer_index": i,
                "K": K,
                "C": C,
                "Y": Y,
                "X": X,
                "R": R,
                "S": S,
                "T": T,
                "dataflow": dataflow,
                "num_pe": 8,
                "ktile": 2,
                "valid": True,
                "runtime_cycles": 1000.0 * (i + 1),
            }
            for i, (K, C, Y, X, R, S, T, dataflow) in enumerate(layers)
        ]
    )


def log(store: Store, parent: str, trial_key: str, **overrides: object) -> str:
    arguments = {
        "trial_key": trial_key,
        "run_name": "alexnet_F-latency_C-area_Mul-0.5_DF-dla_ga_s3",
        "params": {"algorithm": "ga", "population": 10, "settings": '{"mutation": 0.1}'},
        "tags": {"confx.sweep": "unit"},
        "summary": SUMMARY,
        "curve": CURVE,
        "solution": solution_table(),
        "extra_metrics": {"gap": 0.25, "optimum": 32.0},
        "status": "FINISHED",
        "error": None,
        "artifact_files": [],
    }
    return tracking.log_trial(store.tracking_uri, store.experiment_id, parent, **{**arguments, **overrides})


def open_parent(store: Store, sweep_id: str, **params: object) -> str:
    return tracking.open_parent_run(
        store.tracking_uri,
        store.experiment_id,
        sweep_id=sweep_id,
        run_name=f"sweep-{sweep_id}",
        params={"config": "conf/sweep.yaml", **params},
        tags={"confx.kind": "sweep"},
    )


def children(store: Store, parent: str) -> list:
    return store.client.search_runs([store.experiment_id], f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{parent}'")


def test_default_uri_and_artifact_location(tmp_path: Path) -> None:
    uri = tracking.default_tracking_uri(tmp_path)
    assert uri == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    assert tracking.artifact_location(uri) == (tmp_path.resolve() / "mlartifacts").as_uri()
    assert tracking.artifact_location("http://127.0.0.1:5000") is None


def test_experiment_is_get_or_create_with_artifacts_beside_the_db(store: Store) -> None:
    assert tracking.ensure_experiment(store.tracking_uri, "unit-sweep") == store.experiment_id
    experiment = store.client.get_experiment(store.experiment_id)
    assert experiment.artifact_location == (store.folder.resolve() / "mlartifacts").as_uri()


def test_parent_is_get_or_create(store: Store) -> None:
    first = open_parent(store, "sweep-a", seeds=3)
    again = open_parent(store, "sweep-a", seeds=5)
    assert again == first
    run = store.client.get_run(first)
    assert run.data.tags[tracking.INVOCATIONS_TAG] == "2"
    assert run.data.params == {"config": "conf/sweep.yaml", "seeds": "3"}  # params are kept from the creation
    assert run.data.tags["confx.kind"] == "sweep"
    assert open_parent(store, "sweep-b") != first


def test_trial_logged_twice_is_one_finished_child(store: Store) -> None:
    parent = open_parent(store, "sweep-trials")
    run_id = log(store, parent, "trial-1")
    assert log(store, parent, "trial-1") == run_id
    [child] = children(store, parent)
    assert child.info.run_id == run_id
    assert child.info.status == "FINISHED"
    assert child.info.run_name == "alexnet_F-latency_C-area_Mul-0.5_DF-dla_ga_s3"
    assert child.data.tags[tracking.TRIAL_KEY_TAG] == "trial-1"
    assert child.data.params == {
        "algorithm": "ga",
        "population": "10",
        "settings": '{"mutation": 0.1}',
        "sense": "min",
        "cost_model_version": "test-1",
    }
    # Units in the keys; the objective and the gap are histories ending on the final values.
    assert child.data.metrics == {
        "latency_cycles": 40.0,
        "gap": 0.25,
        "optimum_latency_cycles": 32.0,
        "area_used_um2": 9.0e5,
        "area_budget_um2": 1.0e6,
        "feasible": 1.0,
        "optimal": 0.0,
        "model_evaluations": 20.0,
        "cost_model_calls": 210.0,
        "wall_time_s": 1.5,
    }
    history = store.client.get_metric_history(run_id, "latency_cycles")
    assert [(metric.step, metric.value) for metric in history] == [(5, 100.0), (12, 60.0), (20, 40.0)]
    gaps = store.client.get_metric_history(run_id, "gap")
    assert [(m.step, m.value) for m in gaps] == [(5, pytest.approx(2.125)), (12, pytest.approx(0.875)), (20, 0.25)]


def test_run_is_created_when_the_trial_starts_and_ended_when_it_is_logged(store: Store) -> None:
    parent = open_parent(store, "sweep-start")
    tags = {"confx.full_name": "alexnet_F-latency_C-area_Mul-0.5_DF-dla_ga_s3"}
    started = tracking.start_trial_run(
        store.tracking_uri, store.experiment_id, parent, trial_key="trial-s", run_name="ga", tags=tags
    )
    run = store.client.get_run(started)
    assert run.info.status == "RUNNING" and run.info.run_name == "ga"
    assert run.data.tags["confx.full_name"] == tags["confx.full_name"]
    assert log(store, parent, "trial-s", run_name="ga") == started
    run = store.client.get_run(started)
    assert run.info.status == "FINISHED" and run.info.start_time <= run.info.end_time
    # A retry reopens the same run.
    again = tracking.start_trial_run(
        store.tracking_uri, store.experiment_id, parent, trial_key="trial-s", run_name="ga", tags=tags
    )
    assert again == started and store.client.get_run(started).info.status == "RUNNING"
    assert len(children(store, parent)) == 1


def test_final_value_ends_the_history_when_the_curve_stops_early() -> None:
    summary = {**SUMMARY, "objective_value": 35.0, "model_evaluations": 30}
    histories = tracking.trial_histories(summary, CURVE, optimum=35.0)
    assert histories["latency_cycles"] == {5: 100.0, 12: 60.0, 20: 40.0, 30: 35.0}
    assert histories["gap"][30] == 0.0
    assert "gap" not in tracking.trial_histories(summary, CURVE, optimum=float("nan"))
    assert tracking.trial_histories({}, None, optimum=None) == {}


def test_trial_artifacts(store: Store, tmp_path: Path) -> None:
    parent = open_parent(store, "sweep-artifacts")
    summary_file = tmp_path / "summary.json"
    summary_file.write_text("{}\n")
    run_id = log(store, parent, "trial-art", artifact_files=[summary_file])
    client = store.client
    listed = {info.path for info in client.list_artifacts(run_id)}
    assert {"solution.parquet", "curve.parquet", "convergence.png", "summary.json", "maestro"} <= listed
    maestro = sorted(info.path for info in client.list_artifacts(run_id, "maestro"))
    assert maestro == [
        "maestro/layer_000_dla_K64_C3_Y224_X224_R11_S11_P8_B2.m",
        "maestro/layer_001_dpt_K1_C48_Y112_X112_R3_S3_P8_B2.m",
    ]
    local = client.download_artifacts(run_id, "solution.parquet", str(tmp_path))
    pd.testing.assert_frame_equal(pd.read_parquet(local), solution_table())
    png = Path(client.download_artifacts(run_id, "convergence.png", str(tmp_path)))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_failed_trial_then_successful_retry(store: Store) -> None:
    parent = open_parent(store, "sweep-failed")
    error = "Traceback (most recent call last):\n" + "  frame\n" * 2000 + "RuntimeError: the worker died"
    run_id = log(
        store, parent, "trial-f", summary={}, curve=None, solution=None, extra_metrics={}, status="FAILED", error=error
    )
    run = store.client.get_run(run_id)
    assert run.info.status == "FAILED"
    tag = run.data.tags[tracking.ERROR_TAG]
    assert len(tag) < tracking.ERROR_MAX_CHARS + 100
    assert tag.endswith("RuntimeError: the worker died")
    assert run.data.metrics == {}
    # A retry completes the same run and clears the error.
    assert log(store, parent, "trial-f") == run_id
    run = store.client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert tracking.ERROR_TAG not in run.data.tags
    assert len(children(store, parent)) == 1


def test_trial_with_changed_params_replaces_its_run(store: Store) -> None:
    parent = open_parent(store, "sweep-changed")
    old = log(store, parent, "trial-c")
    new = log(store, parent, "trial-c", params={"algorithm": "ga", "population": 20})
    assert new != old
    assert store.client.get_run(old).info.lifecycle_stage == "deleted"
    [child] = children(store, parent)
    assert child.info.run_id == new
    assert child.data.params["population"] == "20"


def test_close_parent(store: Store, tmp_path: Path) -> None:
    parent = open_parent(store, "sweep-close")
    report = tmp_path / "report.md"
    report.write_text("# report\n")
    tracking.close_parent_run(
        store.tracking_uri,
        parent,
        status="FINISHED",
        artifact_files=[report],
        metrics={"trials": 4, "failed": 1, "best_gap": float("nan"), "note": None},
    )
    run = store.client.get_run(parent)
    assert run.info.status == "FINISHED"
    assert run.data.metrics == {"trials": 4.0, "failed": 1.0}
    assert [info.path for info in store.client.list_artifacts(parent)] == ["report.md"]
    # A resumed sweep reopens it as RUNNING.
    assert open_parent(store, "sweep-close") == parent
    assert store.client.get_run(parent).info.status == "RUNNING"


def test_bad_status_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="status"):
        log(store, "no-parent", "trial-x", status="DONE")


def test_runs_logged_in_one_batch_read_back_like_runs_logged_one_by_one(store: Store, tmp_path: Path) -> None:
    """The database fast path writes what MLflow's client would: the UI and the client read it back."""
    parent = open_parent(store, "batched")
    one = log(store, parent, "one-by-one")
    table = tmp_path / "solution.parquet"
    solution_table().to_parquet(table)
    runs = [
        tracking.TrialRun(
            trial_key=f"batched-{i}",
            run_name=f"run-{i}",
            params={"algorithm": "ga", "population": 10, "settings": '{"mutation": 0.1}'},
            tags={"confx.sweep": "unit", tracking.CHUNK_TAG: "chunk-a"},
            summary=SUMMARY,
            curve=CURVE,
            extra_metrics={"gap": 0.25, "optimum": 32.0},
            status="FINISHED",
            error=None,
            artifact_files=[table],
            start_ms=1_700_000_000_000 + i,
            end_ms=1_700_000_001_500 + i,
        )
        for i in range(3)
    ] + [
        tracking.TrialRun(
            "batched-failed",
            "failed",
            {"algorithm": "ga"},
            {tracking.CHUNK_TAG: "chunk-a"},
            {},
            None,
            {},
            "FAILED",
            "Traceback\nValueError: boom",
            [],
            1,
            2,
        )  # fmt: skip
    ]
    run_ids = tracking.log_trial_runs(store.tracking_uri, store.experiment_id, parent, runs)
    reference = store.client.get_run(one)
    for run_id, run in zip(run_ids[:3], runs[:3], strict=True):
        got = store.client.get_run(run_id)
        assert got.info.status == "FINISHED" and got.info.run_name == run.run_name
        assert (got.info.start_time, got.info.end_time) == (run.start_ms, run.end_ms)
        assert got.data.params == reference.data.params and got.data.metrics == reference.data.metrics
        assert got.data.tags[MLFLOW_PARENT_RUN_ID] == parent and got.data.tags[tracking.TRIAL_KEY_TAG] == run.trial_key
        history = store.client.get_metric_history(run_id, "latency_cycles")
        assert history == sorted(history, key=lambda m: m.step) and history[-1].value == 40.0
        assert [a.path for a in store.client.list_artifacts(run_id)] == ["solution.parquet"]
    failed = store.client.get_run(run_ids[3])
    assert failed.info.status == "FAILED" and "ValueError: boom" in failed.data.tags[tracking.ERROR_TAG]
    found = tracking.child_runs(store.tracking_uri, store.experiment_id, parent, tags={tracking.CHUNK_TAG: "chunk-a"})
    assert found == {run.trial_key: run_id for run, run_id in zip(runs, run_ids, strict=True)}
    assert set(tracking.child_runs(store.tracking_uri, store.experiment_id, parent)) == {*found, "one-by-one"}
