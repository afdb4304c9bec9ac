"""A plant simulator: an asyncua OPC-UA server playing a black-mass line with ground truth.

It shares no accounting code with monitor.core, so its truth stays independent of what it checks.
"""
