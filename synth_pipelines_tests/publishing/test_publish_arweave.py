"""Arweave publishing against a real arlocal node on loopback (a thread in the fixture mines its blocks).

The data is a real export: a Gaussian copula fitted on 600 Adult rows, sampled to a CSV over
2 MiB (arlocal drops repeated chunks when it reassembles chunked data, so zeros would not do).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import requests

from synth_pipelines.core.request import SynthesizerSpec
from synth_pipelines.data.profiling import detect_metadata
from synth_pipelines.generation.export import export_chunks, kinds_of, write_chunk
from synth_pipelines.publishing import ArweaveNode, ArweavePublisher, PublishConfig, PublishError, publish_artifact
from synth_pipelines.publishing.arweave_tx import (
    MAX_CHUNK_SIZE,
    Wallet,
    build_transaction,
    generate_wallet,
    load_wallet,
    save_wallet,
)
from synth_pipelines.resources import build_resources
from synth_pipelines.settings import Settings
from synth_pipelines.training.synthesizers import fit_model
from synth_pipelines_tests import servers
from synth_pipelines_tests.servers import ARLOCAL_DIR, HERE, ArlocalNode, arlocal_node, flaky_tcp_proxy

pytestmark = pytest.mark.integration

TWO_MIB = 2 * 1024 * 1024


@pytest.fixture(scope="module")
def export_file(adult_small_frame: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic CSV export of a little over 2 MiB, written by the pipeline's own export code."""
    model = fit_model(adult_small_frame, detect_metadata(adult_small_frame), SynthesizerSpec(name="gaussian_copula"))
    kinds = kinds_of(adult_small_frame)
    folder = tmp_path_factory.mktemp("arweave-export")
    chunks = []
    for index in range(2):
        chunk = folder / f"chunk-{index}.parquet"
        write_chunk(model.sample(10_000, seed=index), kinds, chunk)
        chunks.append(chunk)
    result = export_chunks(chunks, kinds, folder / "synthetic.csv", "csv", "none")
    assert result.bytes > TWO_MIB
    return result.path


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _config(make_config: Callable[..., PublishConfig], url: str, wallet: Path, **overrides: object) -> PublishConfig:
    fields: dict[str, object] = {
        "arweave_url": url,
        "arweave_wallet": wallet,
        "arweave_confirmations": 1,
        "arweave_confirm_timeout_seconds": 60.0,
        "arweave_poll_seconds": 0.1,
    }
    fields.update(overrides)
    return make_config(**fields)


def _tags(url: str, tx_id: str) -> dict[str, str]:
    query = "query($ids: [ID!]) { transactions(ids: $ids) { edges { node { id tags { name value } } } } }"
    answer = requests.post(f"{url}/graphql", json={"query": query, "variables": {"ids": [tx_id]}}, timeout=30)
    edges = answer.json()["data"]["transactions"]["edges"]
    return {tag["name"]: tag["value"] for tag in edges[0]["node"]["tags"]}


def _slice(source: Path, size: int, target: Path) -> Path:
    with source.open("rb") as handle:
        target.write_bytes(handle.read(size))
    return target


def test_export_round_trip_through_arlocal(arlocal: ArlocalNode, funded_wallet: Path, export_file: Path, make_config):
    sha = _sha(export_file)
    config = _config(make_config, arlocal.url, funded_wallet)
    started = time.monotonic()
    record = ArweavePublisher(config).publish(export_file, sha, "req-arweave")
    elapsed = time.monotonic() - started

    assert record.uploaded and record.confirmation.confirmations >= 1
    assert record.url == f"{arlocal.url}/{record.tx_id}" and record.size == export_file.stat().st_size
    # Fetched back by transaction id, independently of the publisher: the same bytes.
    fetched = requests.get(record.url, timeout=60).content
    assert hashlib.sha256(fetched).hexdigest() == sha
    status = requests.get(f"{arlocal.url}/tx/{record.tx_id}/status", timeout=30).json()
    assert status["block_indep_hash"] == record.confirmation.block_hash
    assert _tags(arlocal.url, record.tx_id) == {
        "Content-Type": "text/csv",
        "App-Name": "synth-pipelines",
        "Request-Id": "req-arweave",
        "SHA-256": sha,
    }
    print(f"2 MiB+ export ({record.size} B, chunked) posted, confirmed and fetched back in {elapsed:.2f} s")


def test_transactions_match_arweave_js(funded_wallet: Path, export_file: Path, tmp_path: Path):
    """The reference implementation accepts our signature, data root and owner for inline and chunked sizes."""
    wallet = load_wallet(funded_wallet)
    script = HERE / "arweave_verify.cjs"
    env = {**os.environ, "ARWEAVE_JS": str(ARLOCAL_DIR / "node_modules" / "arweave")}
    sizes = [17, MAX_CHUNK_SIZE, MAX_CHUNK_SIZE + 1, 3 * MAX_CHUNK_SIZE + 100, export_file.stat().st_size]
    for size in sizes:
        piece = _slice(export_file, size, tmp_path / f"piece-{size}.csv")
        tx = build_transaction(wallet, piece, [("Content-Type", "text/csv")], "", "1000")
        payload = {"tx": tx.header(inline=False), "data_b64": base64.b64encode(piece.read_bytes()).decode()}
        answer = subprocess.run(
            ["node", str(script)], input=json.dumps(payload), capture_output=True, text=True, env=env, check=True
        )
        reference = json.loads(answer.stdout)
        assert reference == {"verify": True, "data_root": tx.data_root, "address": wallet.address}, size
        assert len(tx.chunks) == max(1, -(-size // MAX_CHUNK_SIZE))


def test_node_refuses_a_tampered_transaction(arlocal: ArlocalNode, funded_wallet: Path, export_file: Path, tmp_path):
    """arlocal checks signatures: so its accepting ours (every other test) means they are valid."""
    wallet = load_wallet(funded_wallet)
    piece = _slice(export_file, 1000, tmp_path / "small.csv")
    anchor = requests.get(f"{arlocal.url}/tx_anchor", timeout=30).text
    tx = build_transaction(wallet, piece, [("Content-Type", "text/csv")], anchor, "100000000")
    body = tx.header(inline=True)
    body["tags"] = [{"name": "Q29udGVudC1UeXBl", "value": "dGV4dC9odG1s"}]  # Content-Type: text/html
    assert requests.post(f"{arlocal.url}/tx", json=body, timeout=30).status_code == 400
    assert requests.post(f"{arlocal.url}/tx", json=tx.header(inline=True), timeout=30).status_code == 200


def test_a_repost_of_the_same_signed_transaction_is_one_upload(
    arlocal: ArlocalNode, funded_wallet: Path, export_file: Path, tmp_path: Path, make_config, sleeps
):
    """A retry after a lost answer re-posts the same signed transaction: the node holds it once."""
    piece = _slice(export_file, 3 * MAX_CHUNK_SIZE + 100, tmp_path / "piece.csv")
    config = _config(make_config, arlocal.url, funded_wallet)
    publisher = ArweavePublisher(config)
    node = publisher.node
    tags = [("Content-Type", "text/csv"), ("Request-Id", f"repost-{time.time_ns()}")]
    tx = build_transaction(publisher.wallet, piece, tags, node.anchor(), node.price(piece.stat().st_size))
    node.post(tx)
    node.post(tx)  # the node already holds it (arlocal answers 404, a real node 208): accepted, not re-sent
    node.wait_confirmed(tx.id, 1, 60, 0.1)
    assert node.verify(tx.id, _sha(piece)) == piece.stat().st_size
    assert node.find_upload(publisher.wallet.address, dict(tags)) == [tx.id]
    assert sleeps.delays == []


def test_connection_failures_are_retried_with_the_policy(
    arlocal: ArlocalNode, funded_wallet: Path, export_file: Path, tmp_path: Path, make_config, sleeps
):
    piece = _slice(export_file, 5000, tmp_path / "flaky.csv")
    port = int(arlocal.url.rsplit(":", 1)[1])
    with flaky_tcp_proxy(port, refuse_first=3) as proxy:
        config = _config(make_config, proxy.url, funded_wallet)
        record = ArweavePublisher(config).publish(piece, _sha(piece), "req-flaky")
    assert proxy.refused == 3 and len(sleeps.delays) >= 1
    assert hashlib.sha256(requests.get(f"{arlocal.url}/{record.tx_id}", timeout=30).content).hexdigest() == _sha(piece)


def test_a_rerun_reuses_the_confirmed_upload_and_pays_nothing(
    arlocal: ArlocalNode, funded_wallet: Path, export_file: Path, tmp_path: Path, make_config
):
    piece = _slice(export_file, MAX_CHUNK_SIZE + 1, tmp_path / "rerun.csv")
    config = _config(make_config, arlocal.url, funded_wallet)
    request_id = f"rerun-{time.time_ns()}"
    address = load_wallet(funded_wallet).address
    first = ArweavePublisher(config).publish(piece, _sha(piece), request_id)
    balance = int(requests.get(f"{arlocal.url}/wallet/{address}/balance", timeout=30).text)
    again = ArweavePublisher(config).publish(piece, _sha(piece), request_id)
    assert first.uploaded and not again.uploaded and again.tx_id == first.tx_id
    assert int(requests.get(f"{arlocal.url}/wallet/{address}/balance", timeout=30).text) == balance
    # Another request with the same bytes is its own upload: the tags name the request.
    other = ArweavePublisher(config).publish(piece, _sha(piece), f"{request_id}-other")
    assert other.uploaded and other.tx_id != first.tx_id


def test_an_unfunded_wallet_fails_cleanly_and_writes_no_manifest(
    arlocal: ArlocalNode, export_file: Path, tmp_path: Path, make_config, sleeps
):
    poor = generate_wallet(2048)
    wallet_path = tmp_path / "poor.json"
    save_wallet(poor, wallet_path)
    piece = _slice(export_file, 5000, tmp_path / "export.csv")
    config = _config(make_config, arlocal.url, wallet_path)
    with pytest.raises(PublishError, match=rf"wallet {poor.address} \(SYNTH_ARWEAVE_WALLET\) holds 0 winston"):
        publish_artifact("poor-req", ["local", "arweave"], piece, _sha(piece), {}, {}, config)
    assert not (config.artifact_root / "poor-req" / "manifest.json").exists()
    assert sleeps.delays == []

    # The node's own refusal (HTTP 410, no tokens) is permanent too: not retried.
    node = ArweaveNode(arlocal.url, arlocal.url, config.retry, 10)
    tx = build_transaction(poor, piece, [("Content-Type", "text/csv")], node.anchor(), node.price(5000))
    with pytest.raises(PublishError, match="failed permanently.*HTTP 410"):
        node.post(tx)
    assert sleeps.delays == []


def test_no_confirmation_within_the_ceiling_fails_without_a_manifest(
    arlocal: ArlocalNode, funded_wallet: Path, export_file: Path, tmp_path: Path, make_config
):
    piece = _slice(export_file, 4000, tmp_path / "export.csv")
    config = _config(
        make_config, arlocal.url, funded_wallet, arweave_confirm_timeout_seconds=1.0, arweave_poll_seconds=0.2
    )
    with arlocal.paused_mining():
        started = time.monotonic()
        with pytest.raises(PublishError, match=r"not confirmed .* within 1 s \(last status: pending"):
            publish_artifact("slow-req", ["local", "arweave"], piece, _sha(piece), {}, {}, config)
        assert time.monotonic() - started >= 1.0
    assert not (config.artifact_root / "slow-req" / "manifest.json").exists()


def test_publish_artifact_writes_the_arweave_location_last(
    arlocal: ArlocalNode, funded_wallet: Path, export_file: Path, make_config
):
    sha = _sha(export_file)
    config = _config(make_config, arlocal.url, funded_wallet, arweave_confirmations=2)
    path, manifest = publish_artifact("ar-req", ["local", "arweave"], export_file, sha, {}, {"rows": 20000}, config)
    assert json.loads(path.read_text()) == manifest and manifest["targets"] == ["arweave", "local"]
    location = manifest["locations"]["arweave"]
    assert location["confirmed"] is True and location["confirmations"] >= 2
    assert location["url"] == f"{arlocal.url}/{location['tx_id']}" and location["sha256"] == sha
    assert hashlib.sha256(requests.get(location["url"], timeout=60).content).hexdigest() == sha


# --- configuration (no node needed) -----------------------------------------------------------


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"arweave_url": None}, "set SYNTH_ARWEAVE_URL"),
        ({"arweave_wallet": None}, "set SYNTH_ARWEAVE_WALLET"),
        ({"arweave_wallet": Path("/nonexistent/wallet.json")}, "SYNTH_ARWEAVE_WALLET=/nonexistent/wallet.json: cannot"),
        ({"arweave_wallet": "not-json"}, "SYNTH_ARWEAVE_WALLET=.*: the wallet file is not JSON"),
        ({"arweave_wallet": "not-a-key"}, "SYNTH_ARWEAVE_WALLET=.*lacks the RSA JWK field"),
    ],
)
def test_arweave_needs_a_node_and_a_readable_wallet(make_config, write_file, tmp_path, overrides, message):
    wallets = {"not-json": _write(tmp_path / "bad.json", "{nope"), "not-a-key": _write(tmp_path / "e.json", "{}")}
    if isinstance(overrides.get("arweave_wallet"), str):
        overrides = {"arweave_wallet": wallets[overrides["arweave_wallet"]]}
    fields = {"arweave_url": "http://127.0.0.1:9", "arweave_wallet": tmp_path / "unused.json", **overrides}
    config = make_config(**fields)
    export = write_file("export.csv", 100)
    with pytest.raises(PublishError, match=message):
        publish_artifact("cfg-req", ["local", "arweave"], export, _sha(export), {}, {}, config)
    assert not (config.artifact_root / "cfg-req").exists()  # refused before anything was written


def test_wallet_errors_and_repr_never_show_the_key(tmp_path: Path):
    wallet = generate_wallet(2048)
    secret = wallet.jwk["d"]
    assert secret not in repr(wallet) and wallet.address in repr(wallet)
    broken = {**wallet.jwk, "q": wallet.jwk["p"]}  # inconsistent key
    path = _write(tmp_path / "broken.json", json.dumps(broken))
    with pytest.raises(ValueError, match="SYNTH_ARWEAVE_WALLET") as error:
        load_wallet(path)
    assert secret not in str(error.value) and wallet.jwk["p"] not in str(error.value)
    save_wallet(wallet, tmp_path / "saved.json")
    assert (tmp_path / "saved.json").stat().st_mode & 0o077 == 0
    assert isinstance(load_wallet(tmp_path / "saved.json"), Wallet)


def test_arweave_settings_from_env_reach_the_resource(tmp_path: Path):
    env = {
        "SYNTH_HOME": str(tmp_path),
        "SYNTH_ARWEAVE_URL": "http://127.0.0.1:1984/",
        "SYNTH_ARWEAVE_WALLET": str(tmp_path / "wallet.json"),
        "SYNTH_ARWEAVE_CONFIRMATIONS": "3",
        "SYNTH_ARWEAVE_CONFIRM_TIMEOUT_SECONDS": "120",
        "SYNTH_ARWEAVE_POLL_SECONDS": "0.5",
    }
    settings = Settings.from_env(env)
    publish = settings.publish_config()
    assert publish.arweave_url == "http://127.0.0.1:1984" and publish.arweave_gateway == publish.arweave_url
    assert (publish.arweave_confirmations, publish.arweave_poll_seconds) == (3, 0.5)
    rebuilt = build_resources(settings)["artifact_store"].publish_config()
    for name in ("arweave_url", "arweave_wallet", "arweave_gateway_url", "arweave_confirmations"):
        assert getattr(rebuilt, name) == getattr(publish, name), name
    assert rebuilt.arweave_confirm_timeout_seconds == 120
    gateway = Settings.from_env({**env, "SYNTH_ARWEAVE_GATEWAY_URL": "https://arweave.net"}).publish_config()
    assert gateway.arweave_gateway == "https://arweave.net"
    with pytest.raises(ValueError, match="SYNTH_ARWEAVE_CONFIRMATIONS='-1'"):
        Settings.from_env({**env, "SYNTH_ARWEAVE_CONFIRMATIONS": "-1"})


def test_a_missing_arlocal_install_fails_with_the_remedy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(servers, "ARLOCAL_DIR", tmp_path / "arlocal")
    with pytest.raises(RuntimeError, match=r"arlocal is not installed under .*run scripts/install_test_servers.sh"):
        with arlocal_node():
            pass
