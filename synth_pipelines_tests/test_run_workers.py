"""dead_run_workers' liveness rule on real processes (the service test kills a whole daemon; this is the rule alone)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil

from synth_pipelines.defs.automation.run_workers import worker_alive


def test_a_running_worker_is_alive_and_a_dead_one_is_not():
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        started = time.time()  # the run's RUN_START comes after its worker process exists
        assert worker_alive(worker.pid, started)
    finally:
        worker.kill()
        worker.wait()
    assert not worker_alive(worker.pid, started)


def test_a_pid_now_held_by_a_younger_process_is_not_the_worker():
    # This process was created before now: as the "worker" of a run that started an hour before it, it is
    # a reused pid, and the run's real worker is gone.
    created = psutil.Process(os.getpid()).create_time()
    assert worker_alive(os.getpid(), created + 1)
    assert not worker_alive(os.getpid(), created - 3600)
