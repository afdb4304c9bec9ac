"""blackmass-monitor: OPC-UA collection and metal accounting for black-mass plants."""

__version__ = "0.1.0"
