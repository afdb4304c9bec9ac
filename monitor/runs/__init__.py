"""Three drivers of one engine: the live app, replay of a history file, the demo; plus the tag probe.

May import every layer below (serve, config, accounting, reports, passport, store, collectors, core)
and the simulator (the demo runs one).
"""
