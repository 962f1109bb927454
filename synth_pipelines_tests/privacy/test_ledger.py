"""The privacy ledger: every spend is kept, once per request, across restarts; the cap refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from synth_pipelines.privacy import PrivacyLedger, fingerprint_file
from synth_pipelines.request import RequestError


def _url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger' / 'privacy.db'}"


def test_every_spend_is_recorded_and_survives_a_restart(tmp_path: Path) -> None:
    ledger = PrivacyLedger(_url(tmp_path))
    ledger.record_spend("r1", "fp-a", "ana", 1.0, 1e-6, "dp_ctgan")
    ledger.record_spend("r2", "fp-a", "bo", 0.5, 1e-6, "dp_gaussian_copula")
    ledger.record_spend("r3", "fp-b", "ana", 2.0, 1e-7, "dp_tvae")
    del ledger

    reopened = PrivacyLedger(_url(tmp_path))
    assert reopened.spent("fp-a") == pytest.approx(1.5)
    assert reopened.spent("fp-b") == pytest.approx(2.0)
    assert reopened.spent("never-seen") == 0.0
    entries = reopened.entries("fp-a")
    assert [(e["request_id"], e["requester"], e["mechanism"]) for e in entries] == [
        ("r1", "ana", "dp_ctgan"),
        ("r2", "bo", "dp_gaussian_copula"),
    ]
    assert all(e["created_at"].tzinfo is not None for e in entries)
    assert len(reopened.entries()) == 3


def test_recording_a_request_twice_counts_once(tmp_path: Path) -> None:
    ledger = PrivacyLedger(_url(tmp_path))
    ledger.record_spend("r1", "fp-a", "ana", 1.0, 1e-6, "dp_ctgan")
    ledger.record_spend("r1", "fp-a", "ana", 1.0, 1e-6, "dp_ctgan")
    assert ledger.spent("fp-a") == pytest.approx(1.0)
    assert len(ledger.entries()) == 1


def test_cap_refuses_a_cumulative_overspend(tmp_path: Path) -> None:
    ledger = PrivacyLedger(_url(tmp_path))
    ledger.record_spend("r1", "fp-a", "ana", 3.0, 1e-6, "dp_ctgan")
    ledger.check_cap("fp-a", 2.0, cap=5.0, request_id="r2")  # exactly at the cap is allowed
    with pytest.raises(RequestError) as refused:
        ledger.check_cap("fp-a", 2.5, cap=5.0, request_id="r2")
    (field, message), *_ = refused.value.problems
    assert field == "privacy.epsilon"
    assert "2.5" in message and "cap of 5" in message and "at most 2 is left" in message
    # The cap is per dataset, and a request already charged is not charged again.
    ledger.check_cap("fp-b", 2.5, cap=5.0, request_id="r2")
    ledger.check_cap("fp-a", 3.0, cap=5.0, request_id="r1")


def test_fingerprint_is_the_sha256_of_the_bytes(tmp_path: Path) -> None:
    import hashlib

    path = tmp_path / "data.csv"
    path.write_bytes(b"a,b\n1,2\n")
    assert fingerprint_file(path) == hashlib.sha256(b"a,b\n1,2\n").hexdigest()
    path.write_bytes(b"a,b\n1,3\n")
    assert fingerprint_file(path) != hashlib.sha256(b"a,b\n1,2\n").hexdigest()
