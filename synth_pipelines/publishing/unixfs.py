"""Content addressing for files: the UnixFS DAG Kubo builds, so embedded CIDs equal a node's.

`ipfs add --cid-version=1 --raw-leaves` (Kubo's defaults otherwise) cuts a file into
262,144-byte chunks, stores each as a raw block, and joins them in a balanced tree of
dag-pb nodes with at most 174 links each. A file of one chunk is just its raw leaf. The
builder below follows go-unixfs's `balanced.Layout` step for step (first leaf becomes the
root, then each new root takes the old one as its first child and is filled to `depth`),
because any other tree shape gives a different root CID for the same bytes.

The encoders write the same bytes as go-merkledag: links before data, every link with
its (empty) name, UnixFS blocksizes as repeated unpacked varints. `read_dag` decodes what
we wrote, so content can be fetched back by CID and checked.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

CHUNK_SIZE = 262_144
MAX_LINKS = 174

CODEC_RAW = 0x55
CODEC_DAG_PB = 0x70
MULTIHASH_SHA2_256 = 0x12
UNIXFS_FILE = 2

_BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

# Receives (cid, block bytes) for every block of the DAG, leaves first, root last.
BlockSink = Callable[[str, bytes], None]


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    shift = 0
    value = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _field_bytes(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _field_varint(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _parse_fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(data, pos)
            yield number, value
        elif wire == 2:
            length, pos = _read_varint(data, pos)
            yield number, data[pos : pos + length]
            pos += length
        else:
            raise ValueError(f"unsupported protobuf wire type {wire} in field {number}")


def cid_bytes(codec: int, block: bytes) -> bytes:
    """The binary CIDv1 of `block` with a sha2-256 multihash."""
    digest = hashlib.sha256(block).digest()
    return _varint(1) + _varint(codec) + bytes([MULTIHASH_SHA2_256, len(digest)]) + digest


def cid_to_str(raw: bytes) -> str:
    """Multibase base32 (lower case, no padding), the form Kubo prints for CIDv1."""
    return "b" + base64.b32encode(raw).decode("ascii").lower().rstrip("=")


def _b58decode(text: str) -> bytes:
    number = 0
    for char in text:
        index = _BASE58_ALPHABET.find(char)
        if index < 0:
            raise ValueError(f"invalid base58 character {char!r}")
        number = number * 58 + index
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    leading_zeros = len(text) - len(text.lstrip("1"))
    return b"\x00" * leading_zeros + body


def cid_from_str(text: str) -> bytes:
    """Binary CID from its string form: CIDv1 in base32 ('b…') or base58btc ('z…')."""
    if text.startswith("b"):
        body = text[1:].upper()
        return base64.b32decode(body + "=" * (-len(body) % 8))
    if text.startswith("z"):
        return _b58decode(text[1:])
    raise ValueError(f"CID {text!r}: only CIDv1 in base32 ('b…') or base58btc ('z…') is supported")


def normalize_cid(text: str) -> str:
    """The base32 CIDv1 string for a CIDv1 in any supported multibase.

    js-ipfs prints CIDv1 in base58btc, Kubo in base32; the manifest always holds base32.
    """
    return cid_to_str(cid_from_str(text))


def cid_codec(text: str) -> int:
    raw = cid_from_str(text)
    version, pos = _read_varint(raw, 0)
    if version != 1:
        raise ValueError(f"CID {text!r} is version {version}; only CIDv1 is supported")
    codec, _ = _read_varint(raw, pos)
    return codec


def encode_file_node(children: list[tuple[bytes, int, int]]) -> bytes:
    """A dag-pb UnixFS File node over `children` given as (cid bytes, tsize, file bytes)."""
    links = b"".join(
        _field_bytes(2, _field_bytes(1, cid) + _field_bytes(2, b"") + _field_varint(3, tsize))
        for cid, tsize, _ in children
    )
    unixfs = _field_varint(1, UNIXFS_FILE) + _field_varint(3, sum(size for _, _, size in children))
    unixfs += b"".join(_field_varint(4, size) for _, _, size in children)
    return links + _field_bytes(1, unixfs)


def decode_file_node(block: bytes) -> list[bytes]:
    """The child CIDs (binary) of a dag-pb UnixFS File node, in order."""
    children = []
    for number, value in _parse_fields(block):
        if number == 2 and isinstance(value, bytes):
            for link_number, link_value in _parse_fields(value):
                if link_number == 1 and isinstance(link_value, bytes):
                    children.append(link_value)
    return children


@dataclass
class _Built:
    cid: bytes
    tsize: int  # bytes of every block under this node, as dag-pb link Tsize counts them
    file_size: int  # bytes of file content under this node


class _Builder:
    def __init__(self, stream: BinaryIO, sink: BlockSink | None, chunk_size: int, max_links: int) -> None:
        self._stream = stream
        self._sink = sink
        self._chunk_size = chunk_size
        self._max_links = max_links
        self._pending = self._read_chunk()

    def _read_chunk(self) -> bytes | None:
        # readinto a full chunk even from streams that return short reads
        chunk = bytearray()
        while len(chunk) < self._chunk_size:
            more = self._stream.read(self._chunk_size - len(chunk))
            if not more:
                break
            chunk += more
        return bytes(chunk) if chunk else None

    def done(self) -> bool:
        return self._pending is None

    def _emit(self, codec: int, block: bytes) -> bytes:
        cid = cid_bytes(codec, block)
        if self._sink is not None:
            self._sink(cid_to_str(cid), block)
        return cid

    def leaf(self) -> _Built:
        data = self._pending or b""
        self._pending = self._read_chunk()
        return _Built(self._emit(CODEC_RAW, data), len(data), len(data))

    def _node(self, children: list[_Built]) -> _Built:
        block = encode_file_node([(c.cid, c.tsize, c.file_size) for c in children])
        cid = self._emit(CODEC_DAG_PB, block)
        return _Built(cid, len(block) + sum(c.tsize for c in children), sum(c.file_size for c in children))

    def fill(self, children: list[_Built], depth: int) -> _Built:
        while len(children) < self._max_links and not self.done():
            children.append(self.leaf() if depth == 1 else self.fill([], depth - 1))
        return self._node(children)

    def build(self) -> _Built:
        # An empty file is one empty raw leaf, as in Kubo.
        root = self.leaf()
        depth = 1
        while not self.done():
            root = self.fill([root], depth)
            depth += 1
        return root


def build_file_dag(
    stream: BinaryIO, sink: BlockSink | None = None, chunk_size: int = CHUNK_SIZE, max_links: int = MAX_LINKS
) -> str:
    """The root CID (base32 CIDv1) of `stream`'s bytes; every block goes to `sink` if given."""
    return cid_to_str(_Builder(stream, sink, chunk_size, max_links).build().cid)


def read_dag(root: str, get_block: Callable[[str], bytes]) -> Iterator[bytes]:
    """The file content under `root`, chunk by chunk, each block checked against its CID."""
    raw = cid_from_str(root)
    block = get_block(cid_to_str(raw))
    codec = cid_codec(root)
    if cid_bytes(codec, block) != raw:
        raise ValueError(f"block {root} does not hash to its CID: the store is corrupt")
    if codec == CODEC_RAW:
        yield block
    elif codec == CODEC_DAG_PB:
        for child in decode_file_node(block):
            yield from read_dag(cid_to_str(child), get_block)
    else:
        raise ValueError(f"CID {root} has codec 0x{codec:x}; only raw (0x55) and dag-pb (0x70) files are readable")
