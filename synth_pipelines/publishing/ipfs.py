"""IPFS: add and pin a file (CIDv1, raw leaves), then prove it is there by fetching it back by CID.

Two backends behind one interface:
- `EmbeddedIpfs` (SYNTH_IPFS_API_URL unset): builds the same UnixFS DAG Kubo would
  (unixfs.py) and keeps every block in a local content-addressed folder, so CIDs are
  real and content can be read back by CID and checked block by block. No IPFS node holds
  the blocks and nothing serves them, so its manifest record says so: no `pinned`, no
  gateway URL, `served: false`.
- `KuboRpcIpfs`: a Kubo (or any Kubo-RPC-compatible) node over plain HTTP; its record is
  pinned on that node and names the gateway (SYNTH_IPFS_GATEWAY_URL).

Why plain HTTP and not ipfshttpclient: ipfshttpclient 0.7's `connect()` checks the
daemon's version and raises VersionMismatch for anything outside 0.5.0 … 0.8.0, and
current Kubo is far newer; its `Client` class skips that check but has been
unmaintained since 2021 and has no notion of RPC changes since (e.g. every call must be
a POST). The three calls needed here are small, so `requests` against the documented
RPC API is the smaller and more honest dependency.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import requests

from synth_pipelines.core.files import atomic_write_bytes
from synth_pipelines.publishing.config import PublishConfig
from synth_pipelines.publishing.retry import IntegrityError, PublishError, RetryPolicy
from synth_pipelines.publishing.unixfs import CHUNK_SIZE, build_file_dag, normalize_cid, read_dag

# What `ipfs add` must be told so its CID equals the embedded one (Kubo's defaults
# otherwise: sha2-256, balanced layout, 174 links per node).
ADD_PARAMS = {
    "cid-version": "1",
    "raw-leaves": "true",
    "chunker": f"size-{CHUNK_SIZE}",
    "hash": "sha2-256",
    "pin": "true",
}


EMBEDDED_NOTE = (
    "CID computed locally (embedded content addressing, SYNTH_IPFS_API_URL unset): no IPFS node holds or serves "
    "these bytes. Add the export to a node (the same settings give the same CID) to make it reachable"
)


@dataclass(frozen=True)
class IpfsRecord:
    cid: str
    gateway_url: str | None  # None when nothing serves the content
    sha256: str
    size: int
    node: str  # "embedded" or the RPC API URL
    served: bool = True  # a node holds (and pins) the content

    def as_manifest(self) -> dict[str, object]:
        record: dict[str, object] = {
            "cid": self.cid,
            "sha256": self.sha256,
            "size": self.size,
            "node": self.node,
            "served": self.served,
        }
        if self.served:
            record.update({"gateway_url": self.gateway_url, "pinned": True})
        else:
            record.update({"cid_computed_locally": True, "note": EMBEDDED_NOTE})
        return record


class IpfsBackend(Protocol):
    node: str  # "embedded" or the RPC API URL, as the manifest records it
    serves: bool  # a node others can fetch the content from (False: content addressing on this disk only)

    def describe(self) -> str: ...

    def add(self, path: Path) -> str:
        """Add and pin the file; return its CID (CIDv1, base32)."""
        ...

    def cat(self, cid: str) -> Iterator[bytes]:
        """The content of `cid`, in pieces."""
        ...


def file_cid(path: Path) -> str:
    """The CID Kubo gives `path` with CIDv1 and raw leaves, computed here without storing."""
    with Path(path).open("rb") as handle:
        return build_file_dag(handle)


class EmbeddedIpfs:
    """Content addressing on the local disk: blocks/<cid> holds each block, pins/<cid> marks the roots added.

    The marks are this folder's own record; nothing is pinned on, or served by, any IPFS node.
    """

    serves = False

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.node = "embedded"
        self.blocks = self.root / "blocks"
        self.pins = self.root / "pins"

    def describe(self) -> str:
        return f"embedded IPFS block store {self.root}"

    def _put_block(self, cid: str, block: bytes) -> None:
        target = self.blocks / cid
        if target.exists():
            return  # content-addressed: same name, same bytes
        atomic_write_bytes(target, block)

    def _get_block(self, cid: str) -> bytes:
        try:
            return (self.blocks / cid).read_bytes()
        except FileNotFoundError:
            raise PublishError(f"block {cid} is not in {self.describe()}") from None

    def add(self, path: Path) -> str:
        self.blocks.mkdir(parents=True, exist_ok=True)
        self.pins.mkdir(parents=True, exist_ok=True)
        with Path(path).open("rb") as handle:
            cid = build_file_dag(handle, self._put_block)
        (self.pins / cid).touch()
        return cid

    def cat(self, cid: str) -> Iterator[bytes]:
        return read_dag(normalize_cid(cid), self._get_block)


class KuboRpcIpfs:
    """A Kubo node's RPC API (`/api/v0/...`; every call a POST, as Kubo requires)."""

    serves = True

    def __init__(self, api_url: str, retry: RetryPolicy, timeout_seconds: float = 60.0) -> None:
        self.api_url = api_url.rstrip("/")
        self.node = self.api_url
        self.retry = retry
        self.timeout = timeout_seconds
        self.session = requests.Session()

    def describe(self) -> str:
        return f"IPFS node {self.api_url} (SYNTH_IPFS_API_URL)"

    def _post(self, command: str, params: dict[str, str], **kwargs: Any) -> requests.Response:
        response = self.session.post(f"{self.api_url}/api/v0/{command}", params=params, timeout=self.timeout, **kwargs)
        if response.status_code >= 500 and response.headers.get("Content-Type", "").startswith("application/json"):
            # Kubo answers a command it refuses with HTTP 500 and {"Type": "error"}: the node is up
            # and said no, so retrying cannot help (a proxy's bare 502/503 still is retried).
            try:
                error = response.json()
            except ValueError:
                error = {}
            if isinstance(error, dict) and error.get("Type") == "error":
                raise PublishError(f"{self.describe()} refused /api/v0/{command}: {error.get('Message')}")
        response.raise_for_status()
        return response

    def add(self, path: Path) -> str:
        def add_once() -> str:
            with Path(path).open("rb") as handle:
                # Streams the file from disk: requests sends a file object chunked.
                response = self._post(
                    "add", ADD_PARAMS, files={"file": (Path(path).name, handle, "application/octet-stream")}
                )
            # One JSON object per line; the last names the added file.
            lines = [json.loads(line) for line in response.text.splitlines() if line.strip()]
            if not lines or "Hash" not in lines[-1]:
                raise PublishError(f"{self.describe()}: unexpected /api/v0/add answer {response.text[:300]!r}")
            return normalize_cid(lines[-1]["Hash"])

        cid = self.retry.call(add_once, f"add {path.name} to {self.describe()}")
        # add pins already; pin/add again is idempotent and makes the pin explicit for nodes
        # that ignore add's pin flag.
        self.retry.call(lambda: self._post("pin/add", {"arg": cid}), f"pin {cid} on {self.describe()}")
        return cid

    def cat(self, cid: str) -> Iterator[bytes]:
        # Retry until the node starts answering; the body then streams, so memory stays flat.
        response = self.retry.call(
            lambda: self._post("cat", {"arg": cid}, stream=True), f"fetch {cid} from {self.describe()}"
        )
        with response:
            yield from response.iter_content(chunk_size=1 << 20)


def make_ipfs_backend(config: PublishConfig) -> IpfsBackend:
    if config.ipfs_api_url:
        return KuboRpcIpfs(config.ipfs_api_url, config.retry, config.timeout_seconds)
    return EmbeddedIpfs(config.ipfs_embedded_root)


def publish_to_ipfs(backend: IpfsBackend, path: Path, sha256: str, gateway_url: str) -> IpfsRecord:
    """Add and pin `path`, check the node's CID against ours, then fetch it back and hash it."""
    expected = file_cid(path)
    cid = backend.add(path)
    if cid != expected:
        raise IntegrityError(
            f"{backend.describe()} gave CID {cid} for {path.name}, but CIDv1/raw-leaves/size-{CHUNK_SIZE} "
            f"content addressing gives {expected}: the node ignored the add settings"
        )
    digest = hashlib.sha256()
    size = 0
    for piece in backend.cat(cid):
        digest.update(piece)
        size += len(piece)
    if digest.hexdigest() != sha256:
        raise IntegrityError(
            f"content fetched back from {backend.describe()} by CID {cid} has sha256 {digest.hexdigest()}, "
            f"expected {sha256}"
        )
    gateway = f"{gateway_url.rstrip('/')}/ipfs/{cid}" if backend.serves else None
    return IpfsRecord(cid, gateway, sha256, size, backend.node, served=backend.serves)
