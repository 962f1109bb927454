"""The request store and intake: incoming requests are validated, then accepted or rejected with a reason.

A store has three folders: `incoming/` (people and scripts drop JSON here), `accepted/`
(`<request_id>.json`, the request as the pipeline will run it) and `rejected/` (the file
as it came, beside `<name>.error.json` saying why). Nothing is ever deleted by intake.

A requester's own prefix `incoming/<requester>/` is their identity (on S3, the IAM policy
lets each requester write only there): a request dropped under it must name that requester,
else it is rejected into `rejected/<requester>/` with the reason. Top-level `incoming/` is the
operator's.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from synth_pipelines.core.files import atomic_write_bytes
from synth_pipelines.core.request import RequestError, SynthesisRequest, parse_request
from synth_pipelines.core.uris import is_s3_uri
from synth_pipelines.data.loading import resolve_local_dataset
from synth_pipelines.intake.identity import check_prefix, prefix_owner

MAX_REQUEST_BYTES = 1024 * 1024


class RequestStore(Protocol):
    def incoming(self) -> list[str]: ...
    def read_incoming(self, name: str) -> bytes: ...
    def put_incoming(self, name: str, data: bytes) -> None: ...
    def accept(self, name: str, request: SynthesisRequest) -> None: ...
    def reject(self, name: str, problems: list[dict[str, str]]) -> None: ...
    def accepted(self) -> list[str]: ...
    def read_accepted(self, request_id: str) -> bytes | None: ...
    def put_accepted(self, request: SynthesisRequest) -> None: ...
    def put_standing(self, name: str, request: SynthesisRequest) -> None: ...
    def standing(self) -> list[str]: ...
    def read_standing(self, request_id: str) -> bytes | None: ...


def request_bytes(request: SynthesisRequest) -> bytes:
    """A request as every store keeps it in accepted/ and standing/."""
    return json.dumps(request.model_dump(mode="json", by_alias=True), indent=2).encode()


def check_request_size(name: str, size: int) -> None:
    if size > MAX_REQUEST_BYTES:
        raise RequestError([("request", f"{name} is over {MAX_REQUEST_BYTES:,} bytes; requests are small JSON")])


def rejection(name: str, problems: list[dict[str, str]]) -> tuple[str, bytes]:
    """Where a rejected file goes (a stamped name) and its `.error.json` saying why."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    error = {"file": name, "rejected_at": datetime.now(UTC).isoformat(), "errors": problems}
    owner, base = prefix_owner(name), name.rsplit("/", 1)[-1]
    stamped = f"{stamp}-{base}" if owner is None else f"{owner}/{stamp}-{base}"  # a requester's stay in their prefix
    return stamped, json.dumps(error, indent=2).encode()


def visible_name(name: str) -> bool:
    """Hidden and temporary files are half-written uploads: leave them until they are renamed."""
    return not any(part.startswith(".") for part in name.split("/"))


class LocalRequestStore:
    """A request store on the local file system."""

    def __init__(self, root: Path):
        self.root = Path(root)
        for sub in ("incoming", "accepted", "rejected", "standing"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    def incoming(self) -> list[str]:
        """Names of dropped files: `r.json` at the top, `<requester>/r.json` under a requester's prefix."""
        folder = self.root / "incoming"
        files = [*folder.glob("*"), *folder.glob("*/*")]
        return sorted(n for p in files if p.is_file() and visible_name(n := p.relative_to(folder).as_posix()))

    def read_incoming(self, name: str) -> bytes:
        path = self.root / "incoming" / name
        check_request_size(name, path.stat().st_size)
        return path.read_bytes()

    def put_incoming(self, name: str, data: bytes) -> None:
        """File a request as if dropped (written whole: intake never sees half a file)."""
        atomic_write_bytes(self.root / "incoming" / name, data)

    def accept(self, name: str, request: SynthesisRequest) -> None:
        self.put_accepted(request)
        (self.root / "incoming" / name).unlink(missing_ok=True)

    def reject(self, name: str, problems: list[dict[str, str]]) -> None:
        stamped, error = rejection(name, problems)
        target = self.root / "rejected" / stamped
        atomic_write_bytes(target.with_name(target.name + ".error.json"), error)  # (makes the prefix folder)
        shutil.move(self.root / "incoming" / name, target)

    def accepted(self) -> list[str]:
        return sorted(p.stem for p in (self.root / "accepted").glob("*.json") if not p.name.startswith("."))

    def read_accepted(self, request_id: str) -> bytes | None:
        path = self.root / "accepted" / f"{request_id}.json"
        return path.read_bytes() if path.is_file() else None

    def put_accepted(self, request: SynthesisRequest) -> None:
        atomic_write_bytes(self.root / "accepted" / f"{request.request_id}.json", request_bytes(request))

    def rejected_errors(self) -> list[dict]:
        folder = self.root / "rejected"
        return [
            json.loads(p.read_text()) for p in sorted([*folder.glob("*.error.json"), *folder.glob("*/*.error.json")])
        ]

    def put_standing(self, name: str, request: SynthesisRequest) -> None:
        atomic_write_bytes(self.root / "standing" / f"{request.request_id}.json", request_bytes(request))
        (self.root / "incoming" / name).unlink(missing_ok=True)

    def standing(self) -> list[str]:
        return sorted(p.stem for p in (self.root / "standing").glob("*.json") if not p.name.startswith("."))

    def read_standing(self, request_id: str) -> bytes | None:
        path = self.root / "standing" / f"{request_id}.json"
        return path.read_bytes() if path.is_file() else None


def check_request_context(request: SynthesisRequest, data_root: Path) -> None:
    """Checks that need the outside world: the dataset file exists under the data root (schema_only: none)."""
    if request.dataset is not None and not is_s3_uri(request.dataset.uri):
        resolve_local_dataset(request.dataset.uri, data_root)
    if request.quality.holdout_uri and not is_s3_uri(request.quality.holdout_uri):
        try:
            resolve_local_dataset(request.quality.holdout_uri, data_root)
        except RequestError as exc:
            raise RequestError([("quality.holdout_uri", m) for _, m in exc.problems]) from None
    if request.validation is not None and request.validation.expectation_suite:
        expectation_suite_path(request, data_root)


def expectation_suite_path(request: SynthesisRequest, data_root: Path) -> Path | None:
    """The request's GX suite file under the data root, checked to load; None when the request names none."""
    from synth_pipelines.data.validation import SUITE_FIELD, load_suite

    suite = request.validation.expectation_suite if request.validation is not None else None
    if not suite:
        return None
    try:
        path = resolve_local_dataset(suite, data_root)
    except RequestError as exc:
        raise RequestError([(SUITE_FIELD, m) for _, m in exc.problems]) from None
    load_suite(path)
    return path


def validate_request_bytes(raw: bytes | str, data_root: Path) -> SynthesisRequest:
    request = parse_request(raw)
    check_request_context(request, data_root)
    return request


@dataclass
class IntakeResult:
    accepted: list[SynthesisRequest] = field(default_factory=list)
    standing: list[SynthesisRequest] = field(default_factory=list)
    rejected: list[tuple[str, list[dict[str, str]]]] = field(default_factory=list)


def process_incoming(store: RequestStore, data_root: Path, limit: int = 100) -> IntakeResult:
    """Validate up to `limit` incoming requests; accept or reject each. Never raises for a bad file."""
    result = IntakeResult()
    for name in store.incoming()[:limit]:
        try:
            raw = store.read_incoming(name)
            request = validate_request_bytes(raw, data_root)
            check_prefix(name, request.requester)
            existing = store.read_accepted(request.request_id) or store.read_standing(request.request_id)
            if existing is not None:
                same = parse_request(existing).canonical_json() == request.canonical_json()
                reason = (
                    "is a duplicate of a request already accepted; it runs once"
                    if same
                    else "is already used by another accepted request; choose a new request_id"
                )
                raise RequestError([("request_id", f"{request.request_id!r} {reason}")])
        except RequestError as exc:
            problems = exc.to_dict()["errors"]
        except Exception as exc:  # an unreadable file must not stop intake
            problems = [{"field": "request", "message": f"could not be read: {exc}"}]
        else:
            if request.schedule:
                # A standing request runs on its schedule, not now: the standing-requests schedule picks it up.
                store.put_standing(name, request)
                result.standing.append(request)
            else:
                store.accept(name, request)
                result.accepted.append(request)
            continue
        store.reject(name, problems)
        result.rejected.append((name, problems))
    return result
