"""Arweave: post a file as a signed data transaction, wait until the node confirms it, fetch it back and hash it.

The flow for one file (`ArweavePublisher.publish`):
1. look for an earlier confirmed upload of the same bytes for the same request by the same
   wallet (GraphQL on the gateway, by tags): a re-run then reuses it instead of paying again;
2. otherwise sign one format-2 transaction (arweave_tx.py) with the node's anchor and price,
   check the wallet's balance covers it, and POST it: data of one chunk (256 KiB) goes inline,
   larger data follows as one POST /chunk per chunk. Every call goes through the project's
   RetryPolicy; a retry re-posts the *same* signed transaction (same id), so it cannot upload twice;
3. poll GET /tx/{id}/status until it is mined with the configured number of confirmations,
   up to a ceiling (SYNTH_ARWEAVE_CONFIRM_TIMEOUT_SECONDS): a deadline, not a count of sleeps;
4. fetch the data back by transaction id from the gateway and compare its SHA-256.
Only then is the record returned, for the manifest. Tags are public and permanent on a real
network, so they hold ids and hashes only: Content-Type, App-Name, Request-Id, SHA-256.
The node is never asked to mine: on a real network miners do; tests mine their arlocal node.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from synth_pipelines.publishing.arweave_tx import (
    MAX_CHUNK_SIZE,
    Transaction,
    Wallet,
    b64url_encode,
    build_transaction,
    load_wallet,
)
from synth_pipelines.publishing.config import PublishConfig
from synth_pipelines.publishing.retry import IntegrityError, PublishError, RetryPolicy

log = logging.getLogger(__name__)

APP_NAME = "synth-pipelines"
_CONTENT_TYPES = {
    ".csv": "text/csv",
    ".gz": "application/gzip",
    ".zst": "application/zstd",
    ".parquet": "application/vnd.apache.parquet",
    ".json": "application/json",
}
_FIND_QUERY = (
    "query($owners: [String!], $tags: [TagFilter!]) "
    "{ transactions(owners: $owners, tags: $tags, first: 10) { edges { node { id } } } }"
)


def content_type(path: Path) -> str:
    """The Content-Type tag of a file, from its last suffix (a gateway serves the data with it)."""
    return _CONTENT_TYPES.get(Path(path).suffix.lower(), "application/octet-stream")


@dataclass(frozen=True)
class Confirmation:
    block_height: int
    block_hash: str
    confirmations: int


@dataclass(frozen=True)
class ArweaveRecord:
    """One file on Arweave, confirmed by the node and fetched back with the expected SHA-256."""

    tx_id: str
    url: str
    sha256: str
    size: int
    node: str
    content_type: str
    confirmation: Confirmation
    uploaded: bool  # False when an earlier confirmed upload of the same bytes was reused

    def as_manifest(self) -> dict[str, Any]:
        return {
            "tx_id": self.tx_id,
            "url": self.url,
            "sha256": self.sha256,
            "size": self.size,
            "node": self.node,
            "content_type": self.content_type,
            "confirmed": True,
            "block_height": self.confirmation.block_height,
            "block_hash": self.confirmation.block_hash,
            "confirmations": self.confirmation.confirmations,
            "uploaded": self.uploaded,
        }


class ArweaveNode:
    """An Arweave node's HTTP API (posting, status) and a gateway (data by id, GraphQL)."""

    def __init__(self, url: str, gateway_url: str, retry: RetryPolicy, timeout_seconds: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.gateway_url = gateway_url.rstrip("/")
        self.retry = retry
        self.timeout = timeout_seconds
        self.session = requests.Session()

    def describe(self) -> str:
        return f"Arweave node {self.url} (SYNTH_ARWEAVE_URL)"

    def _get(self, path: str, base: str | None = None, **kwargs: Any) -> requests.Response:
        return self.session.get(f"{base or self.url}{path}", timeout=self.timeout, **kwargs)

    def _text(self, path: str) -> str:
        def once() -> str:
            response = self._get(path)
            response.raise_for_status()
            return response.text.strip()

        return self.retry.call(once, f"GET {path} from {self.describe()}")

    def anchor(self) -> str:
        """A recent block id: a transaction signed with it is valid for the next 50 blocks."""
        return self._text("/tx_anchor")

    def price(self, size: int) -> str:
        winston = self._text(f"/price/{size}")
        if not winston.isdigit():
            raise PublishError(f"{self.describe()}: GET /price/{size} answered {winston[:80]!r}, not winston digits")
        return winston

    def balance(self, address: str) -> int:
        winston = self._text(f"/wallet/{address}/balance")
        if not winston.isdigit():
            raise PublishError(f"{self.describe()}: the balance of {address} is {winston[:80]!r}, not winston digits")
        return int(winston)

    def state(self, tx_id: str) -> tuple[str, Confirmation | None]:
        """("unknown" | "pending" | "confirmed", the confirmation once mined)."""
        response = self._get(f"/tx/{tx_id}/status")
        if response.status_code == 404:
            return "unknown", None
        response.raise_for_status()
        # A real node answers 202 while pending; arlocal answers 200 with the text "Pending".
        if response.status_code == 202 or response.text.strip() == "Pending":
            return "pending", None
        try:
            status = response.json()
            return "confirmed", Confirmation(
                int(status["block_height"]), str(status["block_indep_hash"]), int(status["number_of_confirmations"])
            )
        except (ValueError, KeyError, TypeError):
            raise PublishError(
                f"{self.describe()}: unexpected GET /tx/{tx_id}/status answer {response.text[:200]!r}"
            ) from None

    def post(self, tx: Transaction) -> None:
        """POST the signed transaction, then its chunks when it is over one chunk; each call retried as is."""
        inline = tx.data_size <= MAX_CHUNK_SIZE
        header: dict[str, Any] = tx.header(inline=inline)

        def post_header() -> None:
            response = self.session.post(f"{self.url}/tx", json=header, timeout=self.timeout)
            # 200: accepted; 208: already there (a retry after a lost answer). arlocal answers a
            # re-post with 404, so a refusal of a transaction the node already holds is a success too.
            if response.status_code in (200, 208) or (response.status_code >= 400 and self._holds(tx.id)):
                return
            response.raise_for_status()
            raise PublishError(f"{self.describe()}: POST /tx answered HTTP {response.status_code}")

        self.retry.call(post_header, f"post transaction {tx.id} ({tx.data_size} B) to {self.describe()}")
        if inline:
            return
        for number, chunk in enumerate(tx.chunks, start=1):
            body = {
                "data_root": tx.data_root,
                "data_size": str(tx.data_size),
                "data_path": b64url_encode(chunk.data_path),
                "offset": str(chunk.offset),
                "chunk": b64url_encode(tx.read_chunk(chunk)),
            }
            self.retry.call(
                functools.partial(self._post_chunk, body),
                f"post chunk {number}/{len(tx.chunks)} of transaction {tx.id} to {self.describe()}",
            )

    def _post_chunk(self, body: dict[str, str]) -> None:
        self.session.post(f"{self.url}/chunk", json=body, timeout=self.timeout).raise_for_status()

    def _holds(self, tx_id: str) -> bool:
        try:
            return self.state(tx_id)[0] != "unknown"
        except (requests.RequestException, PublishError):
            return False

    def wait_confirmed(
        self, tx_id: str, confirmations: int, timeout_seconds: float, poll_seconds: float
    ) -> Confirmation:
        """Poll the status until the transaction has `confirmations` blocks on top, or fail at the deadline."""
        deadline = time.monotonic() + timeout_seconds
        while True:
            state, confirmation = self.retry.call(
                lambda: self.state(tx_id), f"GET /tx/{tx_id}/status from {self.describe()}"
            )
            if confirmation is not None and confirmation.confirmations >= confirmations:
                return confirmation
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = f"{confirmation.confirmations} confirmation(s)" if confirmation else state
                raise PublishError(
                    f"transaction {tx_id} not confirmed by {self.describe()} within {timeout_seconds:g} s "
                    f"(last status: {seen}; {confirmations} confirmation(s) asked by SYNTH_ARWEAVE_CONFIRMATIONS, "
                    "ceiling SYNTH_ARWEAVE_CONFIRM_TIMEOUT_SECONDS)"
                )
            time.sleep(min(poll_seconds, remaining))

    def verify(self, tx_id: str, sha256: str) -> int:
        """Fetch the data by transaction id from the gateway; its SHA-256 must be `sha256`. Returns its size."""
        url = f"{self.gateway_url}/{tx_id}"

        def fetch() -> int:
            digest, size = hashlib.sha256(), 0
            with self._get(f"/{tx_id}", base=self.gateway_url, stream=True) as response:
                response.raise_for_status()
                for piece in response.iter_content(chunk_size=1 << 20):
                    digest.update(piece)
                    size += len(piece)
            if digest.hexdigest() != sha256:
                raise IntegrityError(f"{url} serves {size} B with sha256 {digest.hexdigest()}, expected {sha256}")
            return size

        return self.retry.call(fetch, f"fetch transaction {tx_id} back from {url}")

    def find_upload(self, owner: str, tags: dict[str, str]) -> list[str]:
        """Ids of confirmed transactions by `owner` carrying every tag (gateway GraphQL); [] when it cannot say."""
        variables: dict[str, Any] = {
            "owners": [owner],
            "tags": [{"name": name, "values": [value]} for name, value in tags.items()],
        }
        try:
            response = self.session.post(
                f"{self.gateway_url}/graphql",
                json={"query": _FIND_QUERY, "variables": variables},
                timeout=self.timeout,
            )
            response.raise_for_status()
            edges = response.json()["data"]["transactions"]["edges"]
            return [str(edge["node"]["id"]) for edge in edges]
        except (requests.RequestException, ValueError, KeyError, TypeError) as error:
            log.info("no earlier upload found at %s/graphql (%s): uploading", self.gateway_url, type(error).__name__)
            return []


def configured_wallet(config: PublishConfig) -> Wallet:
    """The deploy's wallet; a clear error naming the variable when it is not set or cannot be used."""
    if not config.arweave_wallet:
        raise PublishError("the 'arweave' target needs a wallet: set SYNTH_ARWEAVE_WALLET to a JWK file")
    try:
        return load_wallet(config.arweave_wallet)
    except ValueError as error:
        raise PublishError(str(error)) from None


class ArweavePublisher:
    """Publishes files to the deploy's Arweave node with its wallet; built before anything is written."""

    def __init__(self, config: PublishConfig) -> None:
        if not config.arweave_url:
            raise PublishError("the 'arweave' target needs an Arweave node: set SYNTH_ARWEAVE_URL")
        self.config = config
        self.wallet = configured_wallet(config)
        self.node = ArweaveNode(config.arweave_url, config.arweave_gateway, config.retry, config.timeout_seconds)

    def publish(self, path: Path, sha256: str, request_id: str) -> ArweaveRecord:
        """Upload (or reuse) the file, wait for its confirmation, fetch it back and check its SHA-256."""
        path = Path(path)
        kind = content_type(path)
        tags = {"Content-Type": kind, "App-Name": APP_NAME, "Request-Id": request_id, "SHA-256": sha256}
        earlier = self._earlier_upload(tags)
        if earlier is not None:
            tx_id, confirmation = earlier
            try:
                size = self.node.verify(tx_id, sha256)
            except PublishError as error:
                log.warning("earlier upload %s of %s cannot be used (%s): uploading again", tx_id, path.name, error)
            else:
                log.info("%s on Arweave as %s (earlier upload reused)", path.name, tx_id)
                return self._record(tx_id, sha256, size, kind, confirmation, uploaded=False)
        tx_id = self._upload(path, tags)
        confirmation = self.node.wait_confirmed(
            tx_id,
            self.config.arweave_confirmations,
            self.config.arweave_confirm_timeout_seconds,
            self.config.arweave_poll_seconds,
        )
        size = self.node.verify(tx_id, sha256)
        log.info("%s on Arweave as %s (uploaded, %d confirmation(s))", path.name, tx_id, confirmation.confirmations)
        return self._record(tx_id, sha256, size, kind, confirmation, uploaded=True)

    def _record(
        self, tx_id: str, sha256: str, size: int, kind: str, confirmation: Confirmation, uploaded: bool
    ) -> ArweaveRecord:
        url = f"{self.node.gateway_url}/{tx_id}"
        return ArweaveRecord(tx_id, url, sha256, size, self.node.url, kind, confirmation, uploaded)

    def _earlier_upload(self, tags: dict[str, str]) -> tuple[str, Confirmation] | None:
        """A confirmed transaction of this wallet with the same tags (same request, same SHA-256), if any."""
        for tx_id in self.node.find_upload(self.wallet.address, tags):
            try:
                _, confirmation = self.node.state(tx_id)
            except (requests.RequestException, PublishError):
                continue  # the upload below reports a node that does not answer
            if confirmation is not None and confirmation.confirmations >= self.config.arweave_confirmations:
                return tx_id, confirmation
        return None

    def _upload(self, path: Path, tags: dict[str, str]) -> str:
        size = path.stat().st_size
        reward = self.node.price(size)
        tx = build_transaction(self.wallet, path, list(tags.items()), self.node.anchor(), reward)
        balance = self.node.balance(self.wallet.address)
        if balance < int(reward):
            raise PublishError(
                f"wallet {self.wallet.address} (SYNTH_ARWEAVE_WALLET) holds {balance} winston at {self.node.url}; "
                f"posting {path.name} ({size} B) costs {reward} winston"
            )
        self.node.post(tx)
        return tx.id
