"""Real servers on loopback for integration tests: S3 (moto), IPFS and Arweave nodes, a flaky proxy, a webhook sink,
a static file server over the artifact root.

Plain context managers, no pytest, so any test module (or a script) can use them; the
fixtures in synth_pipelines_tests/publishing/conftest.py wrap them. Everything binds to
127.0.0.1 on a free port and is stopped on exit.

The IPFS node is js-ipfs 0.66 (installed by scripts/install_test_servers.sh): a real
IPFS implementation serving the Kubo RPC API and gateway on loopback. The Arweave node is
arlocal 1.1.66 (same script): it verifies each transaction's signature and data root as a
node does, and mines only when asked, so `arlocal_node()` runs a thread that mines a block
every `mine_every` seconds (the publisher itself never asks a node to mine).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

from synth_pipelines_tests.dagster_processes import free_port

TEST_SERVERS_DIR = Path(os.environ.get("SYNTH_TEST_SERVERS_DIR", "/opt/synth-test-servers"))
INSTALL_HINT = "run scripts/install_test_servers.sh (SYNTH_TEST_SERVERS_DIR moves it)"


def _wait_for(check: Callable[[], bool], what: str, timeout: float, process: subprocess.Popen | None = None) -> None:
    # Unlike dagster_processes.wait_for: polls fast, tolerates connection errors while a
    # server boots, and stops early with the reason when the server process died.
    from synth_pipelines_tests.dagster_processes import CEILING_SCALE

    deadline = time.monotonic() + timeout * CEILING_SCALE
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode} before it was ready")
        try:
            if check():
                return
        except requests.RequestException as error:
            last_error = error
        time.sleep(0.1)
    raise TimeoutError(f"{what} not ready after {timeout} s (last error: {last_error})")


@contextmanager
def moto_s3_server() -> Iterator[str]:
    """moto's standalone S3 HTTP server on a free loopback port; yields its endpoint URL.

    AWS credentials must be set (any value) by the caller, as for a real endpoint.
    """
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(lambda: requests.get(f"{url}/moto-api/", timeout=2).ok, "moto server", 20)
        yield url
    finally:
        server.stop()


@dataclass(frozen=True)
class IpfsNode:
    api_url: str
    gateway_url: str
    repo: Path


def _ipfs_command() -> list[str]:
    ipfs_dir = TEST_SERVERS_DIR / "ipfs"
    cli = ipfs_dir / "node_modules" / "ipfs" / "src" / "cli.js"
    polyfill = ipfs_dir / "polyfill.cjs"
    node = shutil.which("node")
    if node is None or not cli.is_file() or not polyfill.is_file():
        raise RuntimeError(f"js-ipfs is not installed under {ipfs_dir} (node: {node}): {INSTALL_HINT}")
    return [node, "--require", str(polyfill), str(cli)]


@contextmanager
def ipfs_node() -> Iterator[IpfsNode]:
    """A js-ipfs daemon with a fresh repo, offline: loopback swarm, no bootstrap peers, no MDNS."""
    command = _ipfs_command()
    with tempfile.TemporaryDirectory(prefix="synth-ipfs-") as tmp:
        repo = Path(tmp) / "repo"
        env = {**os.environ, "IPFS_PATH": str(repo)}
        # The "test" profile empties the bootstrap list and binds the swarm to 127.0.0.1.
        subprocess.run([*command, "init", "--profile", "test"], env=env, check=True, capture_output=True, timeout=60)
        config_path = repo / "config"
        config = json.loads(config_path.read_text())
        api_port, gateway_port = free_port(), free_port()
        config["Addresses"].update(
            {
                "API": f"/ip4/127.0.0.1/tcp/{api_port}",
                "Gateway": f"/ip4/127.0.0.1/tcp/{gateway_port}",
                "RPC": "/ip4/127.0.0.1/tcp/0",
                "Swarm": ["/ip4/127.0.0.1/tcp/0"],
            }
        )
        config_path.write_text(json.dumps(config))
        log_path = Path(tmp) / "daemon.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen([*command, "daemon"], env=env, stdout=log, stderr=subprocess.STDOUT)
        api_url = f"http://127.0.0.1:{api_port}"
        try:
            try:
                _wait_for(lambda: requests.post(f"{api_url}/api/v0/id", timeout=2).ok, "js-ipfs daemon", 60, process)
            except (RuntimeError, TimeoutError) as error:
                raise RuntimeError(f"{error}; daemon log:\n{log_path.read_text()[-3000:]}") from None
            yield IpfsNode(api_url, f"http://127.0.0.1:{gateway_port}", repo)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass
class FlakyProxy:
    """A TCP proxy in front of `target_port` that resets the first `refuse_first` connections."""

    target_port: int
    refuse_first: int
    port: int = field(default_factory=free_port)
    connections: int = 0
    refused: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


@contextmanager
def flaky_tcp_proxy(target_port: int, refuse_first: int) -> Iterator[FlakyProxy]:
    """Loopback proxy: the first N client connections are reset at once, later ones forwarded."""
    proxy = FlakyProxy(target_port, refuse_first)
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", proxy.port))
    listener.listen(16)
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            proxy.connections += 1
            if proxy.refused < proxy.refuse_first:
                proxy.refused += 1
                # SO_LINGER 0: close sends RST, the client sees "connection reset", as from a dead server.
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", proxy.target_port))
            threading.Thread(target=_pipe, args=(client, upstream), daemon=True).start()
            threading.Thread(target=_pipe, args=(upstream, client), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        stop.set()
        listener.close()
        thread.join(timeout=5)


@dataclass
class WebhookSink:
    """What a loopback HTTP server received, and the statuses it answers with in turn (0: never answers)."""

    statuses: list[int]
    port: int = 0
    received: list[dict] = field(default_factory=list)
    closing: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


@contextmanager
def webhook_server(statuses: list[int]) -> Iterator[WebhookSink]:
    """An HTTP server recording each POSTed JSON body; answers statuses[i] to the i-th POST (last repeats).

    A status of 0 is an endpoint that hangs: the POST is read and recorded, and never answered
    (the connection stays open until the server stops).
    """
    sink = WebhookSink(list(statuses))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            index = min(len(sink.received), len(sink.statuses) - 1)
            sink.received.append(
                {"path": self.path, "json": json.loads(body or b"null"), "headers": dict(self.headers)}
            )
            if sink.statuses[index] == 0:
                sink.closing.wait()
                return
            self.send_response(sink.statuses[index])
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    with _serving(Handler) as port:
        sink.port = port
        try:
            yield sink
        finally:
            sink.closing.set()  # release handlers that never answer, so the server can close


@contextmanager
def _serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    """A threaded HTTP server on a free loopback port; yields the port, stops the server afterwards."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def artifact_web_server(artifact_root: Path) -> Iterator[str]:
    """The deploy's static file server over the artifact root: request folders only (never `_s3_cache/`, `_ipfs/`).

    Yields the base URL to set as SYNTH_PUBLIC_BASE_URL.
    """

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(artifact_root), **kwargs)

        def send_head(self) -> Any:
            if self.path.lstrip("/").startswith("_") or self.path.endswith("/"):
                self.send_error(404)
                return None
            return super().send_head()

        def log_message(self, *args: object) -> None:
            pass

    with _serving(Handler) as port:
        yield f"http://127.0.0.1:{port}"


HERE = Path(__file__).resolve().parent
ARLOCAL_DIR = TEST_SERVERS_DIR / "arlocal"


def _arlocal_command(port: int) -> tuple[list[str], dict[str, str]]:
    module = ARLOCAL_DIR / "node_modules" / "arlocal"
    node = shutil.which("node")
    if node is None or not (module / "bin" / "index.js").is_file():
        raise RuntimeError(f"arlocal is not installed under {ARLOCAL_DIR} (node: {node}): {INSTALL_HINT}")
    return [node, str(HERE / "arlocal_loopback.cjs"), str(port), "127.0.0.1"], {"ARLOCAL_MODULE": str(module)}


@dataclass
class ArlocalNode:
    """A running arlocal: its URL, and the test-only calls (mint, mine) a real network has no use for."""

    url: str
    mining: threading.Event = field(default_factory=threading.Event)

    def mint(self, address: str, winston: int) -> None:
        requests.get(f"{self.url}/mint/{address}/{winston}", timeout=30).raise_for_status()

    def mine(self, blocks: int = 1) -> None:
        requests.get(f"{self.url}/mine/{blocks}", timeout=30).raise_for_status()

    @contextmanager
    def paused_mining(self) -> Iterator[None]:
        """No blocks are mined inside: posted transactions stay pending."""
        self.mining.clear()
        try:
            yield
        finally:
            self.mining.set()


def _mine_while(node: ArlocalNode, stop: threading.Event, every: float) -> None:
    while not stop.wait(every):
        if node.mining.is_set():
            try:
                node.mine()
            except requests.RequestException:
                pass  # the node is stopping, or busy: the next tick mines


@contextmanager
def arlocal_node(mine_every: float = 0.25) -> Iterator[ArlocalNode]:
    """arlocal on a free 127.0.0.1 port, its logs off and its database in a temporary folder.

    A thread mines a block every `mine_every` seconds, so a posted transaction is confirmed
    within a fraction of a second (and gains one confirmation per tick).
    """
    port = free_port()
    command, env = _arlocal_command(port)
    with tempfile.TemporaryDirectory(prefix="synth-arlocal-") as tmp:
        log_path = Path(tmp) / "arlocal.out"
        with log_path.open("wb") as log:
            # cwd: arlocal writes ./logs and ./db into its working folder.
            process = subprocess.Popen(
                command, cwd=tmp, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT
            )
        url = f"http://127.0.0.1:{port}"
        stop = threading.Event()
        node = ArlocalNode(url)
        miner = threading.Thread(target=_mine_while, args=(node, stop, mine_every), daemon=True)
        try:
            try:
                _wait_for(lambda: requests.get(f"{url}/info", timeout=2).ok, "arlocal", 60, process)
            except (RuntimeError, TimeoutError) as error:
                raise RuntimeError(f"{error}; arlocal output:\n{log_path.read_text()[-3000:]}") from None
            node.mining.set()
            miner.start()
            yield node
        finally:
            stop.set()
            if miner.is_alive():
                miner.join(timeout=10)
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
