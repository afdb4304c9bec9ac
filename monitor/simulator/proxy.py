"""A TCP relay in front of the simulator's server, so the network-outage fault can cut clients off."""

from __future__ import annotations

import asyncio
import contextlib
import logging

log = logging.getLogger(__name__)


class TcpRelay:
    """Relays listen_port → target_port; `cut()` drops every connection and refuses new ones."""

    def __init__(self, host: str, listen_port: int, target_port: int) -> None:
        self.host, self.listen_port, self.target_port = host, listen_port, target_port
        self.refusing = False
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        """Listen (again after stop()); a relay already listening stays as it is."""
        if self._server is None:
            self._server = await asyncio.start_server(self._client, self.host, self.listen_port)

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def cut(self) -> None:
        """The network goes down: open connections are dropped, new ones refused until restore()."""
        self.refusing = True
        for w in list(self._writers):
            w.transport.abort()
        self._writers.clear()

    def restore(self) -> None:
        self.refusing = False

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.target_port)
        except OSError as exc:
            log.warning("relay: server at port %d unreachable: %s", self.target_port, exc)
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._pump(reader, up_writer))
                tg.create_task(self._pump(up_reader, writer))
        except* (ConnectionError, OSError):
            pass  # either side went away: the relay of this connection ends
        finally:
            for w in (writer, up_writer):
                self._writers.discard(w)
                w.transport.abort()

    @staticmethod
    async def _pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        while data := await src.read(65536):
            dst.write(data)
            await dst.drain()
        with contextlib.suppress(OSError):
            dst.write_eof()
        dst.transport.abort()
