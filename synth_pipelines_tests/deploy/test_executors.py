"""SYNTH_EXECUTOR picks the executor: multiprocess by default, celery or k8s when asked, a clear error otherwise."""

import sys
from pathlib import Path

import dagster as dg
import pytest

from synth_pipelines.executors import CELERY_DEFAULT_QUEUE, CELERY_QUEUE_TAG, GPU_QUEUE, build_executor


@pytest.mark.parametrize("value", ["", "multiprocess", " Multiprocess "])
def test_multiprocess_is_the_default(monkeypatch, value):
    monkeypatch.setenv("SYNTH_EXECUTOR", value)
    assert build_executor().name == "multiprocess"


def test_celery_executor_from_the_environment(monkeypatch):
    monkeypatch.setenv("SYNTH_EXECUTOR", "celery")
    monkeypatch.setenv("SYNTH_CELERY_BROKER", "redis://broker:6379/0")
    executor = build_executor()
    assert executor.name == "celery"

    @dg.op
    def noop() -> None: ...

    @dg.job(executor_def=executor)
    def probe() -> None:
        noop()

    # The configured broker, backend and Celery settings pass the executor's own config schema.
    dg.validate_run_config(probe)


def test_k8s_executor_from_the_environment(monkeypatch):
    """dagster-k8s's own k8s_job_executor, with SYNTH_MAX_CONCURRENT in the config its schema accepts."""
    monkeypatch.setenv("SYNTH_EXECUTOR", "k8s")
    monkeypatch.setenv("SYNTH_MAX_CONCURRENT", "4")
    executor = build_executor()
    assert executor.name == "k8s"

    @dg.op
    def noop() -> None: ...

    @dg.job(executor_def=executor)
    def probe() -> None:
        noop()

    assert dg.validate_run_config(probe)["execution"]["k8s"]["max_concurrent"] == 4


def test_k8s_without_dagster_k8s_is_refused_with_the_install_line(monkeypatch):
    monkeypatch.setenv("SYNTH_EXECUTOR", "k8s")
    monkeypatch.setitem(sys.modules, "dagster_k8s", None)  # as if not installed
    with pytest.raises(ImportError, match=r"SYNTH_EXECUTOR=k8s needs dagster-k8s.*pip install"):
        build_executor()


@pytest.mark.parametrize(
    ("var", "value", "message"),
    [
        ("SYNTH_EXECUTOR", "dask", r"SYNTH_EXECUTOR='dask'.*allowed: multiprocess, celery, k8s"),
        ("SYNTH_MAX_CONCURRENT", "many", r"SYNTH_MAX_CONCURRENT='many'"),
        ("SYNTH_MAX_CONCURRENT", "-1", r"SYNTH_MAX_CONCURRENT=-1 is negative"),
    ],
)
def test_bad_settings_are_refused_by_name(monkeypatch, var, value, message):
    monkeypatch.setenv(var, value)
    with pytest.raises(ValueError, match=message):
        build_executor()


def test_training_and_only_training_goes_to_the_gpu_queue():
    """The queue Celery reads off each step: trained_model's op carries the GPU queue, no other asset does."""
    from synth_pipelines.definitions import build_defs
    from synth_pipelines.settings import Settings

    job = build_defs(Settings.in_folder(Path("/nonexistent"), Path("/nonexistent"))).resolve_job_def("synthesize")
    queues = {
        node.name: node.tags.get(CELERY_QUEUE_TAG) for node in job.all_node_defs if isinstance(node, dg.OpDefinition)
    }
    assert queues.pop("trained_model") == GPU_QUEUE
    assert queues and all(queue in (None, CELERY_DEFAULT_QUEUE) for queue in queues.values()), queues
