"""Independent peers of the source tests (tests/peers/: npm modbus-serial and Eclipse Tahu sparkplug-client,
pinned by its package-lock.json and installed by scripts/ensure-tools.sh), and the real mosquitto broker."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port, require_tool

PEERS = Path(__file__).resolve().parents[1] / "peers"


def _installed(package: str) -> None:
    if not (PEERS / "node_modules" / package / "package.json").exists():
        msg = f"npm {package} is not installed in {PEERS / 'node_modules'}: run ./scripts/ensure-tools.sh"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)


class NodePeer:
    """A node script on stdin/stdout: it prints "ready ..." when up, "ok ..." after each command."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    async def line(self, prefix: str) -> str:
        assert self.proc.stdout is not None
        while True:
            raw = await asyncio.wait_for(self.proc.stdout.readline(), 60)
            if not raw:
                raise RuntimeError(f"the node peer ended before printing {prefix!r}")
            text = raw.decode().strip()
            if text.startswith(prefix):
                return text

    async def send(self, cmd: dict[str, Any]) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
        await self.proc.stdin.drain()
        return await self.line("ok")


@contextlib.asynccontextmanager
async def node_peer(script: str, package: str, *args: str) -> AsyncIterator[NodePeer]:
    node = require_tool("node", "nodejs")
    _installed(package)
    proc = await asyncio.create_subprocess_exec(
        node, str(PEERS / script), *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=PEERS
    )
    peer = NodePeer(proc)
    try:
        await peer.line("ready")
        yield peer
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


@contextlib.asynccontextmanager
async def mosquitto(
    tmp: Path, users: dict[str, str] | None = None, port: int = 0, tls: tuple[Path, Path, Path] | None = None
) -> AsyncIterator[int]:
    """A real broker on a free port (or `port`: a broker restarted where it was; it keeps no session,
    having no persistence); yields the port once it accepts connections. With `users` (name ->
    password) it refuses anonymous clients; with `tls` (CA, certificate, key PEM files) it speaks TLS only."""
    exe = require_tool("mosquitto", "mosquitto")
    port = port or free_port()
    conf = tmp / "mosquitto.conf"
    text = f"listener {port} 127.0.0.1\nallow_anonymous {'false' if users else 'true'}\n"
    if users:
        pw = tmp / "mosquitto.passwd"
        for i, (name, secret) in enumerate(users.items()):
            make = ["-c"] if i == 0 else []
            args = [require_tool("mosquitto_passwd", "mosquitto"), *make, "-b", str(pw), name, secret]
            await (await asyncio.create_subprocess_exec(*args)).wait()
        text += f"password_file {pw}\n"
    if tls:
        text += "".join(f"{key} {path}\n" for key, path in zip(("cafile", "certfile", "keyfile"), tls, strict=True))
    if (users or tls) and os.geteuid() == 0:  # as root mosquitto becomes user mosquitto: it cannot read tmp
        text += "user root\n"
    conf.write_text(text)
    proc = await asyncio.create_subprocess_exec(
        exe, "-c", str(conf), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        for _ in range(200):
            try:
                _, w = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            w.close()
            break
        yield port
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        await proc.wait()
