"""A DataValue with picoseconds decodes in the standard's field order (node-opcua sends them; asyncua misreads)."""

import struct
from datetime import UTC, datetime

from asyncua import ua
from asyncua.ua import ua_binary

from monitor.collectors.wire_fix import install

install()  # asyncua alone would misread the fields (tests/test_wire_fix shows it)

SOURCE = datetime(2026, 12, 4, 8, 0, 0, tzinfo=UTC)
SERVER = datetime(2026, 12, 4, 8, 0, 1, tzinfo=UTC)


def wire_bytes() -> bytes:
    """Value 42.5, Good, source time + 1234 ps, server time + 5678 ps, as Part 6 lays them out."""
    mask = 0x01 | 0x02 | 0x04 | 0x08 | 0x10 | 0x20
    return (
        bytes([mask])
        + ua_binary.variant_to_binary(ua.Variant(42.5, ua.VariantType.Double))
        + struct.pack("<I", 0)
        + ua_binary.Primitives.DateTime.pack(SOURCE)
        + struct.pack("<H", 1234)
        + ua_binary.Primitives.DateTime.pack(SERVER)
        + struct.pack("<H", 5678)
    )


def test_a_datavalue_with_picoseconds_keeps_its_server_timestamp() -> None:
    dv = ua_binary.struct_from_binary(ua.DataValue, ua.utils.Buffer(wire_bytes()))
    assert dv.Value.Value == 42.5 and dv.StatusCode.is_good()
    assert (dv.SourceTimestamp, dv.ServerTimestamp) == (SOURCE, SERVER)
    assert (dv.SourcePicoseconds, dv.ServerPicoseconds) == (1234, 5678)


def test_a_notification_carrying_such_a_value_decodes_it_too() -> None:
    item = ua_binary.struct_to_binary(ua.MonitoredItemNotification(ClientHandle=7))
    body = item[:4] + wire_bytes()  # ClientHandle, then the DataValue as a server sends it
    got = ua_binary.struct_from_binary(ua.MonitoredItemNotification, ua.utils.Buffer(body))
    assert got.ClientHandle == 7 and got.Value.ServerTimestamp == SERVER
