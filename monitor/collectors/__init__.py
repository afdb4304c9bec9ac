"""Collectors turn the outside world (OPC-UA servers, LIMS files) into Samples and assays, and nothing else.

May import monitor.core and monitor.errors only; their settings live here and config builds them.
"""

from monitor.collectors.wire_fix import install as _install_wire_fix

_install_wire_fix()  # before any session decodes a DataValue (asyncua's field order is not the wire's)
