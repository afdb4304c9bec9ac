"""The long-running commands (serve, run, demo, simulate, browse) stop on SIGTERM as on Ctrl-C.

asyncio.run turns SIGINT into a cancellation of the command's task, so every `finally` and the HTTP
app's cleanups run: the report pools end their PDF worker, which ends the multiprocessing forkserver
and resource tracker with it. SIGTERM (systemd, `kill`, a container's stop) had no handler and
killed the process outright: those three were left running for ever, orphans holding each other's
pipes open. Here SIGTERM takes SIGINT's path; the command then ends with 0 (a requested stop).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)


async def until_stopped(work: Coroutine[Any, Any, int]) -> int:
    """`work`'s exit status, or 0 when SIGTERM cancelled it (its cleanups have run by then)."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    if task is None:  # pragma: no cover - a coroutine run by asyncio.run always has its task
        raise RuntimeError("until_stopped: expected to run as asyncio.run's task, found no task")
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        return await work
    stopping: list[bool] = []
    loop.add_signal_handler(signal.SIGTERM, _stop(task, stopping))
    try:
        return await work
    except asyncio.CancelledError:
        if not stopping:  # Ctrl-C or a cancellation of ours: asyncio.run reports it as before
            raise
        log.info("SIGTERM: stopped cleanly")
        return 0
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


def _stop(task: asyncio.Task[Any], stopping: list[bool]) -> Callable[[], None]:
    def on_sigterm() -> None:
        log.info("SIGTERM: stopping (servers close, worker processes end)")
        stopping.append(True)
        task.cancel()

    return on_sigterm
