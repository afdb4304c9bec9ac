"""Simulator configuration (config/simulator.toml) → SimConfig."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from monitor.errors import ConfigError

LINE_NAMESPACE = "urn:blackmass:simulator:{line}"  # the simulator's OPC-UA namespace of a line


@dataclass(frozen=True, kw_only=True)
class SimConfig:
    line: str = "L1"
    namespace_uri: str = "urn:blackmass:simulator:L1"
    step_s: float = 60.0
    feed_rate_kg_h: float = 2000.0
    changeover_s: float = 600.0
    initial_idle_s: float = 300.0
    delays_s: dict[str, float] = field(
        default_factory=lambda: {
            "black_mass": 2100.0,
            "ferrous": 1800.0,
            "aluminium": 1800.0,
            "copper": 1800.0,
            "light_fraction": 1800.0,
            "condensate": 900.0,
            "fines": 1800.0,
        }
    )
    # relative standard deviation of each mass source, drawn once per lot (scale calibration error)
    accuracy: dict[str, float] = field(
        default_factory=lambda: {
            "feed": 0.005,
            "ferrous": 0.01,
            "aluminium": 0.01,
            "copper": 0.01,
            "light_fraction": 0.02,
            "condensate": 0.02,
            "fines": 0.02,
        }
    )
    bag_sigma: float = 0.001
    bag_min_kg: float = 500.0
    bag_max_kg: float = 1000.0
    lots: int = 0  # play this many lots, then the line stops (0: for ever)
    paused_s: float = 0.0  # the second lot pauses halfway for this long under its id (0: no pause)
    lot_ids: str = "plant"  # "plant" (L1-00001), "reused" (LOT-A, LOT-B, LOT-A...), "int" (1001, ...), "reused-int"
    same_weight_bags_kg: float = 0.0  # fill every bag to exactly this net weight (0: targets vary)


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file as a dict; a missing, unreadable or malformed file is a ConfigError naming it.

    The simulator's own reader, by design: it is the ground truth the monitor is judged against and
    shares no code with it (the import-linter contract in pyproject.toml), so it does not use the
    monitor's config reader (monitor/config), which parses every section of the plant config."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        what = "valid TOML" if isinstance(exc, tomllib.TOMLDecodeError) else "a readable UTF-8 TOML file"
        raise ConfigError(str(path), "(file)", what, str(exc)) from exc


def load_sim_config(path: str | Path, *, line: str | None = None) -> SimConfig:  # noqa: PLR0912 - one check per kind of key
    """The simulator TOML; `line` (simulate/demo --line) renames the line, its lot ids and its namespace."""
    p = Path(path)
    data = read_toml(p)
    table: dict[str, Any] = data.get("simulator", {})
    known = {f.name: f for f in fields(SimConfig)}
    kwargs: dict[str, Any] = {}
    for key, value in table.items():
        if key not in known:
            raise ConfigError(str(p), f"simulator.{key}", f"one of {', '.join(known)}", key)
        default = getattr(SimConfig(), key)
        if isinstance(default, dict):
            if not isinstance(value, dict) or not all(isinstance(v, int | float) for v in value.values()):
                raise ConfigError(str(p), f"simulator.{key}", "a table of numbers", value)
            kwargs[key] = {**default, **{k: float(v) for k, v in value.items()}}
        elif isinstance(default, str):
            if not isinstance(value, str) or not value:
                raise ConfigError(str(p), f"simulator.{key}", "a non-empty string", value)
            kwargs[key] = value
        else:
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ConfigError(str(p), f"simulator.{key}", "a number >= 0", value)
            kwargs[key] = float(value)
    if line is not None:
        if not line or not all(c.isalnum() or c in "-_." for c in line):
            raise ConfigError("--line", "line", "a name of letters, digits, '-', '_' or '.'", line)
        kwargs.update(line=line, namespace_uri=LINE_NAMESPACE.format(line=line))
    cfg = SimConfig(**kwargs)
    if cfg.step_s <= 0:
        raise ConfigError(str(p), "simulator.step_s", "a number > 0", cfg.step_s)
    for stream, delay in cfg.delays_s.items():
        if delay % cfg.step_s:
            raise ConfigError(
                str(p),
                f"simulator.delays_s.{stream}",
                f"a multiple of step_s ({cfg.step_s:g})",
                delay,
                "lot boundaries must fall on a simulation step",
            )
    return cfg
