"""The simulator's bagging scale terminal: a Modbus TCP server of its own (no code shared with the
monitor, no Modbus library), holding what a real terminal shows after each big bag.

Register map (zero-based; docs/sources.md shows the monitor's config for it):

    holding 0-1    bag counter, uint32, ABCD (rises by one per bag weighed)
    holding 2-3    net weight of the last bag, kg, float32, CDAB (word-swapped, as many terminals)
    holding 4-5    time the last bag was weighed, uint32 epoch seconds, ABCD
    holding 10-19  id of the last bag, 20 ASCII characters, NUL-padded
    input   0      bag temperature, 0.1 degC, int16
    coil    0      filling: 1, and 0 in the plant step a bag is weighed

Addresses from 64 on do not exist: a read there is answered with exception 2 (illegal data address).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct

log = logging.getLogger(__name__)

SIZE = 64  # registers (and coils) of each table
ILLEGAL_FUNCTION, ILLEGAL_ADDRESS, ILLEGAL_VALUE = 1, 2, 3
BAG_TAGS = ("BlackMass.BagId", "BlackMass.BagNetWeight", "BlackMass.BagTemp")


def words(value: float | int, code: str, order: str) -> list[int]:
    """`value` packed big-endian as struct `code`, then laid out in `order` (ABCD, CDAB, BADC, DCBA)."""
    raw = struct.pack(f">{code}", value)
    if order in ("BADC", "DCBA"):
        raw = b"".join(bytes((raw[i + 1], raw[i])) for i in range(0, len(raw), 2))
    regs = [raw[i] << 8 | raw[i + 1] for i in range(0, len(raw), 2)]
    return regs[::-1] if order in ("CDAB", "DCBA") else regs


class ScaleTerminal:
    """The registers, and a Modbus TCP server answering function codes 1-4 from them."""

    def __init__(self, host: str, port: int, size: int = SIZE) -> None:
        self.host, self.port, self.size = host, port, size
        self.holding = [0] * size
        self.input = [0] * size
        self.coils = [0] * size
        self.bags = 0
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()
        self.requests = 0

    # -- the plant's side ----------------------------------------------------------------
    def publish(self, ts: float, values: dict[str, float | str]) -> None:
        """One plant step: a new bag id means a bag was weighed."""
        if "BlackMass.BagTemp" in values:
            self.input[0] = words(round(float(values["BlackMass.BagTemp"]) * 10), "h", "ABCD")[0]
        bag = values.get("BlackMass.BagId")
        if isinstance(bag, str) and bag:
            self.bags += 1
            text = bag.encode("ascii", "replace")[:20].ljust(20, b"\x00")
            self.holding[10:20] = [text[i] << 8 | text[i + 1] for i in range(0, 20, 2)]
            self.holding[2:4] = words(float(values.get("BlackMass.BagNetWeight", 0.0)), "f", "CDAB")
            self.holding[4:6] = words(int(ts), "I", "ABCD")
            self.holding[0:2] = words(self.bags, "I", "ABCD")  # last: a reader sees the counter with its bag
        self.coils[0] = 1 if values.get("BlackMass.BagNetWeight") is None else 0

    # -- the wire ------------------------------------------------------------------------
    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        log.info("simulator: scale terminal (Modbus TCP) on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        """The terminal goes away: the listener closes and every connection is dropped."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for w in list(self._clients):
            w.close()
        self._clients.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients.add(writer)
        try:
            while True:
                head = await reader.readexactly(7)
                tid, _, length, unit = struct.unpack(">HHHB", head)
                pdu = await reader.readexactly(length - 1)
                self.requests += 1
                answer = self.answer(pdu)
                writer.write(struct.pack(">HHHB", tid, 0, len(answer) + 1, unit) + answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._clients.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()

    def answer(self, pdu: bytes) -> bytes:
        """The response PDU to one request PDU."""
        fc = pdu[0]
        if fc not in (1, 2, 3, 4) or len(pdu) < 5:  # noqa: PLR2004 - function code and two words
            return bytes((fc | 0x80, ILLEGAL_FUNCTION))
        address, count = struct.unpack(">HH", pdu[1:5])
        bits = fc in (1, 2)
        if count < 1 or count > (2000 if bits else 125):
            return bytes((fc | 0x80, ILLEGAL_VALUE))
        if address + count > self.size:
            return bytes((fc | 0x80, ILLEGAL_ADDRESS))
        if bits:
            table = self.coils if fc == 1 else [0] * self.size
            packed = bytearray((count + 7) // 8)
            for i in range(count):
                if table[address + i]:
                    packed[i // 8] |= 1 << (i % 8)
            return bytes((fc, len(packed))) + bytes(packed)
        regs = (self.holding if fc == 3 else self.input)[address : address + count]  # noqa: PLR2004
        return bytes((fc, 2 * count)) + struct.pack(f">{count}H", *regs)
