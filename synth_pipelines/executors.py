"""The executor that runs a run's steps, chosen by SYNTH_EXECUTOR: one machine, Celery workers, or Kubernetes jobs.

| SYNTH_EXECUTOR | steps run | needs |
|---|---|---|
| `multiprocess` (default) | in forked processes on the run's machine | nothing |
| `celery` | on Celery workers listening on a broker | dagster-celery, a broker (Redis), workers on the same storage |
| `k8s` | one Kubernetes job per step | dagster-k8s, the K8sRunLauncher |

Chunks go to any worker. Training goes to the GPU: `TRAINING_OP_TAGS` on `trained_model` routes its step to
the Celery queue `gpu` and gives its Kubernetes pod a GPU node and a GPU limit. Each executor reads only its
own tag, so the same tags serve all three.
"""

from __future__ import annotations

import os

import dagster as dg

EXECUTORS = ("multiprocess", "celery", "k8s")

GPU_QUEUE = "gpu"
# dagster-celery submits a step to the queue named by this op tag; untagged steps go to `dagster`.
CELERY_QUEUE_TAG = "dagster-celery/queue"
CELERY_DEFAULT_QUEUE = "dagster"
# dagster-k8s merges this op tag into the step's pod (k8s_job_executor) or the run's pod (K8sRunLauncher).
K8S_CONFIG_TAG = "dagster-k8s/config"

# Put on trained_model (`op_tags=TRAINING_OP_TAGS`). The node selector is the label NVIDIA's GPU feature
# discovery puts on GPU nodes; the toleration matches the taint GPU node pools usually carry.
TRAINING_OP_TAGS: dict[str, object] = {
    CELERY_QUEUE_TAG: GPU_QUEUE,
    K8S_CONFIG_TAG: {
        "container_config": {
            "resources": {
                "requests": {"cpu": "2", "memory": "8Gi"},
                "limits": {"nvidia.com/gpu": "1", "memory": "16Gi"},
            },
        },
        "pod_spec_config": {
            "node_selector": {"nvidia.com/gpu.present": "true"},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        },
    },
}


def build_executor() -> dg.ExecutorDefinition:
    """The executor SYNTH_EXECUTOR names, configured from the environment (read now, at definition time)."""
    name = os.environ.get("SYNTH_EXECUTOR", "").strip().lower() or "multiprocess"
    if name == "multiprocess":
        return _multiprocess()
    if name == "celery":
        return _celery()
    if name == "k8s":
        return _k8s()
    raise ValueError(f"SYNTH_EXECUTOR={name!r} is not an executor; allowed: {', '.join(EXECUTORS)}")


def max_concurrent() -> int:
    """SYNTH_MAX_CONCURRENT: the most steps the multiprocess executor runs at once (0: the CPU count)."""
    value = os.environ.get("SYNTH_MAX_CONCURRENT", "").strip() or "0"
    try:
        count = int(value)
    except ValueError:
        raise ValueError(f"SYNTH_MAX_CONCURRENT={value!r} is not an integer; allowed: 0 (CPU count) or more") from None
    if count < 0:
        raise ValueError(f"SYNTH_MAX_CONCURRENT={count} is negative; allowed: 0 (CPU count) or more")
    return count or os.cpu_count() or 1


# What a step process needs to open the Dagster instance, which the forkserver imports once
# (synth_pipelines.preload) instead of every step importing it on its first event.
INSTANCE_MODULES = (
    "alembic.command",
    "alembic.config",
    "alembic.autogenerate",
    "alembic.runtime.migration",
    "sqlalchemy.dialects.sqlite",
    "sqlalchemy.dialects.postgresql",
    "dagster._core.instance.factory",
    "dagster._core.storage.sql",
    "dagster._core.storage.sqlite_storage",
    "dagster._core.storage.runs.sqlite",
    "dagster._core.storage.event_log.sqlite",
    "dagster._core.storage.schedules.sqlite",
    "dagster._core.storage.local_compute_log_manager",
    "dagster._core.storage.upath_io_manager",
    "dagster._core.storage.migration.utils",
    "dagster._core.storage.root",
    "dagster._core.utility_ops",
    "dagster._core.system_config.composite_descent",
    "dagster._core.workspace.context",
    "dagster._core.scheduler.instigation",
    "dagster._core.snap",
    "dagster._core.secrets.env_file",
    "dagster._utils.temp_file",
    "fsspec.implementations.local",
    "upath.implementations.local",
    "watchdog.observers",
    "zstandard",
    "dagster_postgres",
)


def import_instance_modules() -> None:
    import importlib

    for name in INSTANCE_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:  # a storage this deployment does not install
            pass


def _multiprocess() -> dg.ExecutorDefinition:
    # forkserver with preloaded modules: a chunk step forks from a warm process instead of
    # re-importing torch and SDV (seconds each) in a fresh interpreter.
    return dg.multiprocess_executor.configured(
        {
            "max_concurrent": max_concurrent(),
            "start_method": {"forkserver": {"preload_modules": ["synth_pipelines.preload"]}},
        }
    )


def celery_config() -> dict[str, object]:
    """The celery executor's config; workers must start with the same (`dagster-celery worker start -y`)."""
    from dagster_celery.defaults import broker_transport_options

    broker = os.environ.get("SYNTH_CELERY_BROKER", "").strip() or "redis://localhost:6379/0"
    # rpc:// (dagster-celery's default) needs an AMQP broker; with Redis the results go back through Redis too.
    backend = os.environ.get("SYNTH_CELERY_BACKEND", "").strip() or broker
    return {
        "broker": broker,
        "backend": backend,
        "config_source": {
            "task_default_queue": CELERY_DEFAULT_QUEUE,
            # Redis hands an unacknowledged task to another worker after visibility_timeout (1 h by default):
            # a long training step must not run twice.
            "broker_transport_options": {**broker_transport_options, "visibility_timeout": 6 * 3600},
        },
    }


def _celery() -> dg.ExecutorDefinition:
    from dagster_celery import celery_executor

    return celery_executor.configured(celery_config())


def _k8s() -> dg.ExecutorDefinition:
    try:
        from dagster_k8s import k8s_job_executor
    except ImportError:
        raise ImportError(
            "SYNTH_EXECUTOR=k8s needs dagster-k8s, which is not installed: "
            "pip install 'dagster-k8s>=0.29,<0.30' (or set SYNTH_EXECUTOR to multiprocess or celery)"
        ) from None
    config: dict[str, object] = {}
    if os.environ.get("SYNTH_MAX_CONCURRENT", "").strip():
        config["max_concurrent"] = max_concurrent()
    return k8s_job_executor.configured(config) if config else k8s_job_executor
