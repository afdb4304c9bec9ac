"""Pure computation over samples: no I/O, no asyncio, nothing of ours but these modules."""
