"""Arweave format-2 data transactions: the JWK wallet, the data merkle root, the deep hash and the signature.

Only `cryptography` (RSA) and the standard library; no network here (arweave.py talks to nodes).
What a node checks, and what this module computes to match it (arweave-js 1.15 / ar_tx.erl):
- owner     = base64url(RSA modulus n), e = 65537
- data_root = root of Arweave's merkle tree over 256 KiB chunks (SHA-256, 32-byte offset notes;
              the last two chunks rebalanced so none is under 32 KiB)
- signature = RSA-PSS (SHA-256, MGF1-SHA-256, salt 32) over deep_hash([
                "2", owner, target, quantity, reward, last_tx, [[tag name, tag value], ...],
                data_size, data_root])   (deep_hash: SHA-384 with "blob"/"list" length tags)
- id        = base64url(SHA-256(signature))
The data is read from a file chunk by chunk, so an export of any size is never held in memory.
The wallet's private key never appears in a repr, a log line or an error message.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

MAX_CHUNK_SIZE = 256 * 1024
MIN_CHUNK_SIZE = 32 * 1024
NOTE_SIZE = 32
PSS_SALT_LENGTH = 32  # arweave-js's webcrypto signer; every verifier (node, arlocal, arweave-js) accepts it
JWK_FIELDS = ("kty", "n", "e", "d", "p", "q", "dp", "dq", "qi")

DeepHashable: TypeAlias = "bytes | Sequence[DeepHashable]"


class WalletError(ValueError):
    """The wallet file is missing, unreadable or not an RSA JWK (the message never holds key material)."""


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sha256(*parts: bytes) -> bytes:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part)
    return digest.digest()


def _note(value: int) -> bytes:
    return value.to_bytes(NOTE_SIZE, "big")


# --- wallet -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Wallet:
    """An RSA key as an Arweave JWK. repr shows the address only."""

    jwk: dict[str, str] = field(repr=False)
    key: rsa.RSAPrivateKey = field(repr=False)

    @property
    def owner(self) -> str:
        return self.jwk["n"]

    @property
    def address(self) -> str:
        return b64url_encode(_sha256(b64url_decode(self.jwk["n"])))

    def sign(self, message: bytes) -> bytes:
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=PSS_SALT_LENGTH)
        return self.key.sign(message, pss, hashes.SHA256())

    def __repr__(self) -> str:
        return f"Wallet(address={self.address!r})"


def _int_to_b64(value: int) -> str:
    return b64url_encode(value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def generate_wallet(bits: int = 4096) -> Wallet:
    """A new wallet (Arweave uses 4096-bit keys)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    numbers = key.private_numbers()
    values = {
        "n": numbers.public_numbers.n,
        "e": numbers.public_numbers.e,
        "d": numbers.d,
        "p": numbers.p,
        "q": numbers.q,
        "dp": numbers.dmp1,
        "dq": numbers.dmq1,
        "qi": numbers.iqmp,
    }
    return Wallet({"kty": "RSA", **{name: _int_to_b64(value) for name, value in values.items()}}, key)


def wallet_from_jwk(jwk: dict[str, str], source: str = "wallet JWK") -> Wallet:
    missing = [name for name in JWK_FIELDS if not isinstance(jwk.get(name), str) or not jwk.get(name)]
    if missing:
        raise WalletError(f"{source} lacks the RSA JWK field(s) {', '.join(missing)}")
    if jwk["kty"] != "RSA":
        raise WalletError(f"{source}: kty must be 'RSA'")

    def number(name: str) -> int:
        return int.from_bytes(b64url_decode(jwk[name]), "big")

    try:
        public = rsa.RSAPublicNumbers(number("e"), number("n"))
        private = rsa.RSAPrivateNumbers(
            number("p"), number("q"), number("d"), number("dp"), number("dq"), number("qi"), public
        )
        key = private.private_key()
    except ValueError:
        # cryptography's messages name no key material, but say nothing useful either.
        raise WalletError(f"{source} does not hold a consistent RSA private key") from None
    return Wallet({name: jwk[name] for name in JWK_FIELDS}, key)


def load_wallet(path: Path, variable: str = "SYNTH_ARWEAVE_WALLET") -> Wallet:
    """The wallet in the JWK file at `path`; errors name `variable` and the path, never the content."""
    source = f"{variable}={path}"
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise WalletError(f"{source}: cannot read the wallet file ({error.strerror or type(error).__name__})") from None
    try:
        jwk = json.loads(text)
    except ValueError:
        raise WalletError(f"{source}: the wallet file is not JSON (an Arweave JWK is a JSON object)") from None
    if not isinstance(jwk, dict):
        raise WalletError(f"{source}: the wallet file is not a JSON object")
    return wallet_from_jwk(jwk, source)


def save_wallet(wallet: Wallet, path: Path) -> None:
    """Write the JWK readable by its owner only (0600)."""
    path = Path(path)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(json.dumps(wallet.jwk))


# --- deep hash and merkle tree ----------------------------------------------------------------


def deep_hash(data: DeepHashable) -> bytes:
    if isinstance(data, bytes | bytearray | memoryview):
        blob = bytes(data)
        tag = hashlib.sha384(b"blob" + str(len(blob)).encode()).digest()
        return hashlib.sha384(tag + hashlib.sha384(blob).digest()).digest()
    acc = hashlib.sha384(b"list" + str(len(data)).encode()).digest()
    for item in data:
        acc = hashlib.sha384(acc + deep_hash(item)).digest()
    return acc


def chunk_ranges(size: int) -> list[tuple[int, int]]:
    """arweave-js chunkData: 256 KiB pieces, the last two rebalanced so none is under 32 KiB.

    The last range may be empty (a size that is a multiple of 256 KiB): it counts in the root
    but is never uploaded.
    """
    ranges: list[tuple[int, int]] = []
    cursor, rest = 0, size
    while rest >= MAX_CHUNK_SIZE:
        length = MAX_CHUNK_SIZE
        if 0 < rest - MAX_CHUNK_SIZE < MIN_CHUNK_SIZE:
            length = -(-rest // 2)
        ranges.append((cursor, cursor + length))
        cursor += length
        rest -= length
    ranges.append((cursor, cursor + rest))
    return ranges


@dataclass(frozen=True)
class _Node:
    id: bytes
    max_byte_range: int
    leaf_hash: bytes | None = None  # leaves: SHA-256 of the chunk
    byte_range: int = 0  # branches: the left child's max
    left: _Node | None = None
    right: _Node | None = None


@dataclass(frozen=True)
class Chunk:
    """One uploaded piece of the data: its byte range and merkle proof."""

    start: int
    end: int
    data_path: bytes

    @property
    def offset(self) -> int:  # what POST /chunk calls the offset: the chunk's last byte
        return self.end - 1


def _read_ranges(path: Path, ranges: list[tuple[int, int]]) -> Iterator[bytes]:
    with Path(path).open("rb") as handle:
        for start, end in ranges:
            handle.seek(start)
            yield handle.read(end - start)


def _leaves(path: Path, ranges: list[tuple[int, int]]) -> list[_Node]:
    leaves = []
    for (_, end), piece in zip(ranges, _read_ranges(path, ranges), strict=True):
        leaf_hash = _sha256(piece)
        leaves.append(_Node(_sha256(_sha256(leaf_hash), _sha256(_note(end))), end, leaf_hash=leaf_hash))
    return leaves


def _tree(leaves: list[_Node]) -> _Node:
    layer = leaves
    while len(layer) > 1:
        paired = []
        for i in range(0, len(layer), 2):
            if i + 1 == len(layer):
                paired.append(layer[i])
                continue
            left, right = layer[i], layer[i + 1]
            node_id = _sha256(_sha256(left.id), _sha256(right.id), _sha256(_note(left.max_byte_range)))
            paired.append(_Node(node_id, right.max_byte_range, byte_range=left.max_byte_range, left=left, right=right))
        layer = paired
    return layer[0]


def _proofs(node: _Node, prefix: bytes = b"") -> Iterator[tuple[int, bytes]]:
    if node.leaf_hash is not None:
        yield node.max_byte_range, prefix + node.leaf_hash + _note(node.max_byte_range)
        return
    assert node.left is not None and node.right is not None
    step = prefix + node.left.id + node.right.id + _note(node.byte_range)
    yield from _proofs(node.left, step)
    yield from _proofs(node.right, step)


def file_data_root(path: Path) -> tuple[bytes, list[Chunk]]:
    """The data_root of the file's bytes and, per non-empty chunk, its range and merkle proof."""
    ranges = chunk_ranges(Path(path).stat().st_size)
    root = _tree(_leaves(path, ranges))
    proofs = dict(_proofs(root))
    return root.id, [Chunk(start, end, proofs[end]) for start, end in ranges if end > start]


# --- transactions -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Transaction:
    """A signed format-2 data transaction (no transfer); the data stays in `path`."""

    path: Path
    owner: str
    last_tx: str
    reward: str
    tags: tuple[tuple[str, str], ...]
    data_size: int
    data_root: str
    signature: str
    id: str
    chunks: tuple[Chunk, ...] = field(repr=False)

    def read_chunk(self, chunk: Chunk) -> bytes:
        return next(_read_ranges(self.path, [(chunk.start, chunk.end)]))

    def header(self, inline: bool) -> dict[str, object]:
        """The JSON body of POST /tx; `inline` puts the data in it (one chunk at most, as arweave-js does)."""
        return {
            "format": 2,
            "id": self.id,
            "last_tx": self.last_tx,
            "owner": self.owner,
            "tags": [{"name": b64url_encode(n.encode()), "value": b64url_encode(v.encode())} for n, v in self.tags],
            "target": "",
            "quantity": "0",
            "data": b64url_encode(Path(self.path).read_bytes()) if inline else "",
            "data_size": str(self.data_size),
            "data_tree": [],
            "data_root": self.data_root,
            "reward": self.reward,
            "signature": self.signature,
        }


def signature_data(
    owner: str, last_tx: str, reward: str, tags: Sequence[tuple[str, str]], data_size: int, data_root: str
) -> bytes:
    return deep_hash(
        [
            b"2",
            b64url_decode(owner),
            b"",  # target: no transfer
            b"0",  # quantity
            reward.encode(),
            b64url_decode(last_tx),
            [[name.encode(), value.encode()] for name, value in tags],
            str(data_size).encode(),
            b64url_decode(data_root),
        ]
    )


def build_transaction(
    wallet: Wallet, path: Path, tags: Sequence[tuple[str, str]], last_tx: str, reward: str
) -> Transaction:
    """Sign a data transaction for the file at `path`. Tags must be non-empty ASCII (nodes decode them as latin-1)."""
    for name, value in tags:
        if not name or not value or not (name + value).isascii():
            raise ValueError(f"tag {name!r}: name and value must be non-empty ASCII")
    size = Path(path).stat().st_size
    root, chunks = file_data_root(path) if size else (b"", [])
    data_root = b64url_encode(root)
    signature = wallet.sign(signature_data(wallet.owner, last_tx, reward, tags, size, data_root))
    return Transaction(
        path=Path(path),
        owner=wallet.owner,
        last_tx=last_tx,
        reward=reward,
        tags=tuple(tags),
        data_size=size,
        data_root=data_root,
        signature=b64url_encode(signature),
        id=b64url_encode(_sha256(signature)),
        chunks=tuple(chunks),
    )
