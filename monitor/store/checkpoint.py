"""The engine's checkpoint file (<data-dir>/checkpoint.json): the lots in progress survive a kill -9.

Written atomically (temporary file, fsync, rename), so a crash mid-write leaves the previous
checkpoint. A checkpoint that cannot be read is set aside, never fatal: the monitor then starts
fresh and the lot it joins is stored as partial, as before checkpoints existed.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def write_checkpoint(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    data = json.dumps(state, separators=(",", ":")).encode()
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def read_checkpoint(path: Path) -> dict[str, Any] | None:
    """The saved state, or None when there is none or it is unreadable (then renamed *.bad)."""
    if not path.exists():
        return None
    try:
        state = json.loads(path.read_bytes())
        if not isinstance(state, dict):
            raise ValueError(f"expected a JSON object, got {type(state).__name__}")
        return state
    except (OSError, ValueError) as exc:
        bad = path.with_suffix(".bad")
        log.error("%s: unreadable checkpoint (%s); set aside as %s, starting fresh", path, exc, bad.name)
        path.replace(bad)
        return None
