"""SYNTH_EXECUTOR picks the executor: multiprocess by default, celery or k8s when asked, a clear error otherwise."""

import sys
import types

import dagster as dg
import pytest

from synth_pipelines.executors import CELERY_QUEUE_TAG, GPU_QUEUE, TRAINING_OP_TAGS, build_executor


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


def test_k8s_is_imported_only_when_asked(monkeypatch):
    monkeypatch.setenv("SYNTH_EXECUTOR", "k8s")
    fake = types.ModuleType("dagster_k8s")
    fake.k8s_job_executor = dg.multiprocess_executor  # stands in: any ExecutorDefinition
    monkeypatch.setitem(sys.modules, "dagster_k8s", fake)
    monkeypatch.setenv("SYNTH_MAX_CONCURRENT", "4")
    assert build_executor().name == "multiprocess"
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


def test_training_goes_to_the_gpu_queue():
    assert TRAINING_OP_TAGS[CELERY_QUEUE_TAG] == GPU_QUEUE
