"""A loop that runs until cancelled must notice its cancel even when a library swallowed it.

Python 3.11's `asyncio.wait_for` returns the inner result instead of raising CancelledError when
the result arrived in the same loop turn as the cancel (fixed in 3.12). pymodbus awaits every
response that way, aiomqtt every publish: a collector polling every 50 ms then never sees the cancel
of a stopping app, keeps polling, and the app's TaskGroup (a demo, a test) waits on it for ever.
The cancel request is still counted on the task (`Task.cancelling()`), so each turn of a forever
loop asks for it and raises it again.
"""

from __future__ import annotations

import asyncio


def honour_cancel() -> None:
    """Raise CancelledError if the running task was asked to stop (a swallowed cancel included)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError("cancel requested (seen again after a library swallowed it)")
