"""The asyncua twin of replay-server.js: the same replay script, the same behaviour.

    python tests/second_stack/replay_server.py --port PORT --script SCRIPT.json [--start stdin|SECONDS]

Each value is written once, when it changes (report-by-exception), at its offset from the wall
time of the script's first row, stamped with that time; after the last change the server keeps
serving with its values frozen and its clock (Server/ServerStatus/CurrentTime) ticking, until
killed. Prints "READY <endpoint>" when clients may connect and "DONE <epoch s>" after the last
change. --start stdin: wait for a line "START <epoch seconds>" (the wall time of the first row).

Deliberately imports nothing from `monitor`: it stands for a server the monitor did not write.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import sys
import time
from datetime import UTC
from pathlib import Path
from typing import Any

from asyncua import Server, ua

# replay-format quality (0 good, 1 uncertain, 2 bad) -> status code
STATUS = (ua.StatusCodes.Good, ua.StatusCodes.Uncertain, ua.StatusCodes.Bad)


def _variant(kind: str, value: float | str) -> ua.Variant:
    if kind == "String":
        return ua.Variant(str(value), ua.VariantType.String)
    return ua.Variant(float(value), ua.VariantType.Double)


def _data_value(kind: str, value: float | str, quality: int, at: float) -> ua.DataValue:
    return ua.DataValue(
        _variant(kind, value),
        StatusCode=ua.StatusCode(ua.UInt32(STATUS[quality])),
        SourceTimestamp=ua.DateTime.fromtimestamp(at, UTC),
        ServerTimestamp=ua.DateTime.now(UTC),
    )


async def _start_time(start: str) -> float:
    """Wall time (epoch s) of the script's first row."""
    if start != "stdin":
        return time.time() + float(start)
    while True:
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line:
            raise SystemExit("replay_server: stdin closed before a START line")
        m = re.fullmatch(r"START\s+([0-9.]+)\s*", line)
        if m:
            return float(m.group(1))


async def serve(port: int, script: dict[str, Any], start: str) -> None:
    server = Server()
    await server.init()
    endpoint = f"opc.tcp://127.0.0.1:{port}/blackmass"
    server.set_endpoint(endpoint)
    server.set_server_name("blackmass asyncua replay")
    server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    idx = await server.register_namespace(script["namespace_uri"])
    # the same layout and string node ids as monitor/simulator/server.py: Line_<line>/<unit>/<tag>
    line = await server.nodes.objects.add_object(
        ua.NodeId(ua.String(f"Line_{script['line']}"), ua.Int16(idx)), f"Line_{script['line']}"
    )
    units: dict[str, Any] = {}
    nodes: dict[str, tuple[ua.NodeId, str]] = {}
    born = time.time()
    for tag, kind in script["tags"].items():
        unit_name, var_name = tag.split(".", 1)
        if unit_name not in units:
            units[unit_name] = await line.add_object(ua.NodeId(ua.String(unit_name), ua.Int16(idx)), unit_name)
        vtype = ua.VariantType.String if kind == "String" else ua.VariantType.Double
        node = await units[unit_name].add_variable(
            ua.NodeId(ua.String(tag), ua.Int16(idx)),
            var_name,
            _variant(kind, script["initial"][tag]).Value,
            varianttype=vtype,
        )
        await server.write_attribute_value(node.nodeid, _data_value(kind, script["initial"][tag], 0, born))
        nodes[tag] = (node.nodeid, kind)
    async with server:
        print(f"READY {endpoint}", flush=True)
        t0 = await _start_time(start)
        last = t0
        for offset, tag, value, quality in script["events"]:
            at = t0 + float(offset)
            if at > time.time():
                await asyncio.sleep(at - time.time())
            nodeid, kind = nodes[tag]
            await server.write_attribute_value(nodeid, _data_value(kind, value, int(quality), at))
            last = at
        print(f"DONE {last:.3f}", flush=True)
        await asyncio.Event().wait()  # keep serving: the clock ticks on, the values stay as they are


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--script", type=Path, required=True)
    p.add_argument("--start", default="2", help="stdin, or seconds from now to the first row (default 2)")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(serve(a.port, json.loads(a.script.read_text()), a.start))


if __name__ == "__main__":
    main()
