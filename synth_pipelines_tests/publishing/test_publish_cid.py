"""CIDs: the embedded UnixFS builder, the real IPFS node and aleph-cid agree; content comes back by CID."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import aleph_cid
import pytest
import requests

from synth_pipelines.publishing import EmbeddedIpfs, KuboRpcIpfs, RetryPolicy, file_cid
from synth_pipelines.publishing.ipfs import publish_to_ipfs
from synth_pipelines.publishing.unixfs import CHUNK_SIZE, MAX_LINKS, build_file_dag, normalize_cid, read_dag
from synth_pipelines_tests.publishing.conftest import FAST_DELAYS
from synth_pipelines_tests.servers import IpfsNode


def aleph(data: bytes) -> str:
    hasher = aleph_cid.CidHasher.for_ipfs_v1_raw_leaves()
    hasher.update(data)
    return hasher.finalize()


@pytest.mark.parametrize(
    "size",
    [0, 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3_000_000],
    ids=["empty", "one-byte", "one-chunk", "two-chunks", "3MB"],
)
def test_embedded_cid_equals_aleph_cid(size: int) -> None:
    data = os.urandom(size)
    blocks: dict[str, bytes] = {}
    cid = build_file_dag(io.BytesIO(data), blocks.__setitem__)
    assert cid == aleph(data)
    assert cid.startswith("bafk" if size <= CHUNK_SIZE else "bafy")  # raw leaf vs dag-pb root
    assert b"".join(read_dag(cid, blocks.__getitem__)) == data


def test_tree_deeper_than_one_level_round_trips() -> None:
    # With 10-byte chunks and 3 links a node, 5,000 bytes need a 6-level tree: this exercises
    # the balanced layout's growth from a leaf root through several new roots.
    data = os.urandom(5000)
    blocks: dict[str, bytes] = {}
    cid = build_file_dag(io.BytesIO(data), blocks.__setitem__, chunk_size=10, max_links=3)
    assert b"".join(read_dag(cid, blocks.__getitem__)) == data
    assert len(blocks) > 500


def test_full_width_node_matches_aleph_cid() -> None:
    # 174 chunks fill one node exactly; one byte more forces a second level.
    data = os.urandom(CHUNK_SIZE * MAX_LINKS + 1)
    assert build_file_dag(io.BytesIO(data)) == aleph(data)


def test_embedded_store_detects_a_corrupt_block(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(os.urandom(CHUNK_SIZE * 2 + 5))
    store = EmbeddedIpfs(tmp_path / "ipfs")
    cid = store.add(path)
    assert (store.pins / cid).exists()
    assert b"".join(store.cat(cid)) == path.read_bytes()
    leaf = next(p for p in store.blocks.iterdir() if p.name.startswith("bafk"))
    leaf.write_bytes(b"tampered")
    with pytest.raises(ValueError, match="does not hash to its CID"):
        b"".join(store.cat(cid))


def test_embedded_publish_records_a_local_cid_with_no_gateway(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(os.urandom(CHUNK_SIZE + 7))
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    record = publish_to_ipfs(EmbeddedIpfs(tmp_path / "ipfs"), path, sha, "https://gw.example")
    assert record.cid == aleph(path.read_bytes()) and record.gateway_url is None and not record.served
    entry = record.as_manifest()
    assert "pinned" not in entry and "gateway_url" not in entry and "gw.example" not in str(entry)


@pytest.mark.integration
def test_node_cid_equals_embedded_and_aleph_for_multichunk_file(ipfs: IpfsNode, tmp_path: Path) -> None:
    path = tmp_path / "export.parquet"
    data = os.urandom(2_500_000)  # 10 chunks
    path.write_bytes(data)
    node = KuboRpcIpfs(ipfs.api_url, RetryPolicy(FAST_DELAYS))
    cid = node.add(path)
    assert cid == file_cid(path) == aleph(data)
    assert b"".join(node.cat(cid)) == data
    pins = requests.post(f"{ipfs.api_url}/api/v0/pin/ls", params={"arg": cid}, timeout=10).json()
    assert {normalize_cid(key) for key in pins["Keys"]} == {cid}
    # and any IPFS client can get it through the node's gateway
    assert requests.get(f"{ipfs.gateway_url}/ipfs/{cid}", timeout=10).content == data


@pytest.mark.integration
def test_publish_to_ipfs_verifies_by_fetching_back(ipfs: IpfsNode, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(os.urandom(300_000))
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    record = publish_to_ipfs(KuboRpcIpfs(ipfs.api_url, RetryPolicy(FAST_DELAYS)), path, sha, "https://gw.example")
    assert record.cid == aleph(path.read_bytes())
    assert record.gateway_url == f"https://gw.example/ipfs/{record.cid}"
    assert record.node == ipfs.api_url
    assert record.as_manifest()["pinned"] is True and record.served
    # a wrong expected hash must be caught by the fetch-back, not trusted
    with pytest.raises(Exception, match="fetched back .* has sha256"):
        publish_to_ipfs(KuboRpcIpfs(ipfs.api_url, RetryPolicy(())), path, "0" * 64, "https://gw.example")
