"""`blackmass reconcile INPUT.csv`: one balance node from a CSV, reconciled (core/reconcile.py)."""

from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from monitor.core.reconcile import reconcile
from monitor.errors import InputError

COLUMNS = ("stream", "direction", "measured_kg", "rel_sigma")


_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


def _number(text: str, where: str, field: str, *, positive: bool) -> float:
    if not _NUMBER.fullmatch(text):  # float() would also read '1_0' as 10
        raise InputError(where, f"field '{field}': expected a number, got {text[:40]!r}")
    v = float(text)
    if not math.isfinite(v) or v < 0 or (positive and v == 0):
        raise InputError(
            where,
            f"field '{field}': expected a {'positive' if positive else 'non-negative'} finite number, got {text!r}",
        )
    return v


def parse_balance(text: str, name: str) -> list[tuple[str, str, float | None, float]]:
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or [c.strip() for c in rows[0][:4]] != list(COLUMNS):
        got = ",".join(rows[0]) if rows else ""
        raise InputError(f"{name}:1", f"expected the header {','.join(COLUMNS)}, got {got!r}")
    out: list[tuple[str, str, float | None, float]] = []
    for n, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        where = f"{name}:{n}"
        if len(row) < len(COLUMNS):
            raise InputError(where, f"expected 4 fields ({','.join(COLUMNS)}), got {len(row)}")
        stream, direction, measured, rel = (c.strip() for c in row[:4])
        if not stream:
            raise InputError(where, "field 'stream': expected a name, got ''")
        if direction not in ("in", "out"):
            raise InputError(where, f"field 'direction': expected 'in' or 'out', got {direction!r}")
        m = None if measured == "" else _number(measured, where, "measured_kg", positive=False)
        sigma = (
            _number(rel, where, "rel_sigma", positive=True)
            if m is not None
            else (_number(rel, where, "rel_sigma", positive=False) if rel else 0.0)
        )
        out.append((stream, direction, m, sigma))
    if len({r[0] for r in out}) != len(out):
        raise InputError(name, "a stream is listed twice")
    if not any(r[1] == "in" for r in out) or not any(r[1] == "out" for r in out):
        raise InputError(name, "expected at least one 'in' and one 'out' stream")
    return out


def reconcile_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(str(path), f"cannot read: {exc}") from exc
    rows = parse_balance(text, str(path))
    x = np.array([r[2] if r[2] is not None else 0.0 for r in rows])
    measured = np.array([r[2] is not None for r in rows])
    sd = np.array([r[3] * (r[2] or 0.0) for r in rows])
    A = np.array([[1.0 if r[1] == "in" else -1.0 for r in rows]])
    res = reconcile(x, np.diag(sd**2), A, measured)
    streams = [
        {
            "stream": r[0],
            "direction": r[1],
            "measured_kg": r[2],
            "reconciled_kg": float(res.x[i]),
            "sd_kg": float(res.sd[i]),
            "z": None if math.isnan(res.z[i]) else float(res.z[i]),
        }
        for i, r in enumerate(rows)
    ]
    return {
        "streams": streams,
        "gamma": res.gamma,
        "dof": res.dof,
        "p_value": None if math.isnan(res.p_value) else res.p_value,
        "imbalance_kg": float((A @ x)[0]),
    }
