"""The privacy ledger on SQLite: every attempt is charged, an attempt once, per declared dataset, atomically."""

from __future__ import annotations

import math
import multiprocessing
import threading
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from synth_pipelines.core.request import RequestError
from synth_pipelines.privacy.ledger import PrivacyLedger
from synth_pipelines.publishing import sha256_file

TERMS = {"requester": "ana", "delta": 1e-6, "mechanism": "dp_gaussian_copula"}


def _url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger' / 'privacy.db'}"


def _reserve(ledger: PrivacyLedger, dataset_id: str, attempt_id: str, request_id: str, epsilon: float, cap: float):
    return ledger.reserve(
        dataset_id=dataset_id, attempt_id=attempt_id, request_id=request_id, epsilon=epsilon, cap=cap, **TERMS
    )


def test_every_charge_is_kept_and_survives_a_restart(tmp_path: Path) -> None:
    ledger = PrivacyLedger(_url(tmp_path))
    _reserve(ledger, "adult", "run1:train:0", "r1", 1.0, cap=10)
    _reserve(ledger, "adult", "run2:train:0", "r2", 0.5, cap=10)
    _reserve(ledger, "census", "run3:train:0", "r3", 2.0, cap=10)
    del ledger

    reopened = PrivacyLedger(_url(tmp_path))
    assert reopened.spent("adult") == pytest.approx(1.5)
    assert reopened.spent("census") == pytest.approx(2.0)
    assert reopened.spent("never-seen") == 0.0
    entries = reopened.entries("adult")
    assert [(e["attempt_id"], e["request_id"], e["dataset_id"], e["requester"]) for e in entries] == [
        ("run1:train:0", "r1", "adult", "ana"),
        ("run2:train:0", "r2", "adult", "ana"),
    ]
    assert all(e["created_at"].tzinfo is not None for e in entries)
    assert len(reopened.entries()) == 3


def test_a_new_attempt_of_a_request_is_charged_again_and_the_same_attempt_is_not(tmp_path: Path) -> None:
    ledger = PrivacyLedger(_url(tmp_path))
    first = _reserve(ledger, "adult", "run1:train:0", "r1", 2.0, cap=5)
    assert ledger.spent("adult") == pytest.approx(2.0)

    # A re-run (or a retry) of the same request trains on the rows again: it pays again.
    second = _reserve(ledger, "adult", "run2:train:0", "r1", 2.0, cap=5)
    assert ledger.spent("adult") == pytest.approx(4.0)
    assert [e["attempt_id"] for e in second] == ["run1:train:0", "run2:train:0"]

    # The same attempt asked again (a step that reserved, then crashed before it knew) pays nothing,
    # gets the same answer, and is not refused although a fresh 2.0 would no longer fit under the cap.
    again = _reserve(ledger, "adult", "run2:train:0", "r1", 2.0, cap=5)
    assert again == second
    assert ledger.spent("adult") == pytest.approx(4.0)
    assert _reserve(ledger, "adult", "run1:train:0", "r1", 2.0, cap=5) == second
    assert first[0] == second[0]

    with pytest.raises(RequestError):
        _reserve(ledger, "adult", "run3:train:0", "r1", 2.0, cap=5)
    assert ledger.spent("adult") == pytest.approx(4.0)


def test_the_cap_is_per_declared_dataset_id_not_per_file_bytes(tmp_path: Path) -> None:
    frame = pd.DataFrame({"age": [39, 50, 38, 53, 28], "hours": [40, 13, 40, 40, 40]})
    original, resorted = tmp_path / "adult.csv", tmp_path / "adult_sorted.csv"
    frame.to_csv(original, index=False)
    frame.sort_values("age").to_csv(resorted, index=False)
    assert sha256_file(original) != sha256_file(resorted)  # the old key would have given it a fresh budget

    ledger = PrivacyLedger(_url(tmp_path))
    _reserve(ledger, "owner/adult", "run1:train:0", "r1", 3.0, cap=5)
    # The owner declares the re-sorted copy as the same dataset: it shares the cap.
    with pytest.raises(RequestError):
        _reserve(ledger, "owner/adult", "run2:train:0", "r2", 3.0, cap=5)
    # Another declared dataset has its own cap.
    _reserve(ledger, "owner/census", "run3:train:0", "r3", 3.0, cap=5)
    assert ledger.spent("owner/adult") == pytest.approx(3.0)
    assert ledger.spent("owner/census") == pytest.approx(3.0)


def test_the_cap_refuses_and_says_the_cap_what_is_spent_and_what_is_left(tmp_path: Path) -> None:
    ledger = PrivacyLedger(_url(tmp_path))
    _reserve(ledger, "adult", "a1", "r1", 3.0, cap=5)
    with pytest.raises(RequestError) as refused:
        _reserve(ledger, "adult", "a2", "r2", 2.5, cap=5)
    (field, message), *_ = refused.value.problems
    assert field == "privacy.epsilon"
    assert "2.5" in message and "cap of 5" in message and "already spent 3" in message
    assert "at most 2 is left" in message
    assert ledger.spent("adult") == pytest.approx(3.0)  # a refusal charges nothing
    _reserve(ledger, "adult", "a3", "r3", 2.0, cap=5)  # exactly at the cap is allowed
    assert ledger.spent("adult") == pytest.approx(5.0)
    # Floating sums that fill the cap exactly are not refused for their last bit.
    _reserve(ledger, "tiny", "b1", "r4", 0.1, cap=0.3)
    _reserve(ledger, "tiny", "b2", "r5", 0.2, cap=0.3)


@pytest.mark.parametrize(
    "field,value",
    [
        ("epsilon", 0.0),
        ("epsilon", -1.0),
        ("epsilon", math.nan),
        ("epsilon", math.inf),
        ("delta", math.nan),
        ("delta", 1.0),
        ("cap", math.nan),
        ("cap", -1.0),
        ("attempt_id", ""),
        ("dataset_id", ""),
    ],
)
def test_a_reservation_with_an_impossible_term_is_refused_and_charges_nothing(
    tmp_path: Path, field: str, value: Any
) -> None:
    ledger = PrivacyLedger(_url(tmp_path))
    terms = {"dataset_id": "adult", "attempt_id": "a1", "request_id": "r1", "epsilon": 1.0, "cap": 5.0, **TERMS}
    with pytest.raises(ValueError):
        ledger.reserve(**{**terms, field: value})
    assert ledger.entries() == []


def test_an_attempt_id_names_one_charge(tmp_path: Path) -> None:
    ledger = PrivacyLedger(_url(tmp_path))
    _reserve(ledger, "adult", "a1", "r1", 1.0, cap=5)
    for dataset_id, request_id, epsilon in (("adult", "r1", 2.0), ("adult", "r2", 1.0), ("census", "r1", 1.0)):
        with pytest.raises(ValueError, match="a1"):
            _reserve(ledger, dataset_id, "a1", request_id, epsilon, cap=5)
    assert [(e["dataset_id"], e["epsilon"]) for e in ledger.entries()] == [("adult", 1.0)]


def test_databases_without_a_tested_lock_are_refused() -> None:
    with pytest.raises(ValueError, match="sqlite"):
        PrivacyLedger("mysql://user@localhost/ledger")


# --- concurrency -------------------------------------------------------------------------------------------------

RACERS, CAP = 8, 5.0


def reserve_after_barrier(url: str, index: int, barrier: Any) -> str:
    """One racer: its own ledger (own engine, own connection), released with the others at the barrier."""
    ledger = PrivacyLedger(url)
    barrier.wait(timeout=120)
    try:
        ledger.reserve(
            dataset_id="shared", attempt_id=f"run{index}:train:0", request_id=f"r{index}", epsilon=1.0, cap=CAP, **TERMS
        )
    except RequestError:
        return "refused"
    return "charged"


def _process_racer(url: str, index: int, barrier: Any, results: Any) -> None:
    try:
        results.put((index, reserve_after_barrier(url, index, barrier)))
    except BaseException as exc:  # noqa: BLE001 - the parent reports it; a silent child would hang the test
        results.put((index, f"error: {type(exc).__name__}: {exc}"))


def race_in_threads(url: str) -> list[str]:
    barrier = threading.Barrier(RACERS)
    outcomes: list[str] = [""] * RACERS

    def run(index: int) -> None:
        try:
            outcomes[index] = reserve_after_barrier(url, index, barrier)
        except BaseException as exc:  # noqa: BLE001
            outcomes[index] = f"error: {type(exc).__name__}: {exc}"

    threads = [threading.Thread(target=run, args=(i,)) for i in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    return outcomes


def race_in_processes(url: str) -> list[str]:
    context = multiprocessing.get_context("spawn")  # no forked engine or lock state in the children
    barrier, results = context.Barrier(RACERS), context.Queue()
    processes = [context.Process(target=_process_racer, args=(url, i, barrier, results)) for i in range(RACERS)]
    for process in processes:
        process.start()
    outcomes = dict(results.get(timeout=180) for _ in processes)
    for process in processes:
        process.join(timeout=60)
    return [outcomes[i] for i in range(RACERS)]


def assert_cap_held(outcomes: list[str], ledger: PrivacyLedger) -> None:
    assert sorted(outcomes) == ["charged"] * int(CAP) + ["refused"] * (RACERS - int(CAP)), outcomes
    assert ledger.spent("shared") == pytest.approx(CAP)
    assert len(ledger.entries("shared")) == int(CAP)


def test_concurrent_processes_on_one_sqlite_file_never_pass_the_cap(tmp_path: Path) -> None:
    url = _url(tmp_path)
    ledger = PrivacyLedger(url)
    assert_cap_held(race_in_processes(url), ledger)


def test_concurrent_threads_on_one_sqlite_file_never_pass_the_cap(tmp_path: Path) -> None:
    url = _url(tmp_path)
    ledger = PrivacyLedger(url)
    assert_cap_held(race_in_threads(url), ledger)
