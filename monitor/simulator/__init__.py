"""A plant simulator: an asyncua OPC-UA server playing a black-mass line with ground truth.

It shares no code with the monitor (monitor.errors aside), so its truth stays independent of what it
checks: its own samples, quality mapping, TOML reading and certificates (checked by import-linter).
"""
