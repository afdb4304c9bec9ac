"""[ghg], [origin] and [passport] of the plant config → value objects (errors name file and field)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.collectors.secrets import looks_like_material
from monitor.core.carbon import GhgFactors, OtherInput
from monitor.errors import ConfigError, InputError
from monitor.passport.origin import ORIGIN_CLASSES, OriginMap, Shares

KEY_ENV = "BLACKMASS_PASSPORT_KEY"


@dataclass(frozen=True, kw_only=True)
class PassportSettings:
    """Who signs, with which key. The key's path is kept out of repr (it locates a secret)."""

    plant: str = ""
    operator: str = ""
    key: Path | None = field(default=None, repr=False)

    def key_path(self) -> tuple[Path | None, str]:
        """The private key's path and where it was named: the environment wins over the config."""
        env = os.environ.get(KEY_ENV)
        if env and looks_like_material(env):
            raise InputError(
                KEY_ENV,
                "holds key material, not a path; refused (the key never travels in a variable)",
                f"write the PEM to a file only the monitor can read (chmod 600) and set {KEY_ENV} to its path",
            )
        if env:
            return Path(env), KEY_ENV
        return self.key, "[passport] key"


def _table(data: Mapping[str, Any], key: str, where: str, path: str) -> Mapping[str, Any]:
    v = data.get(key, {})
    if not isinstance(v, Mapping):
        raise ConfigError(where, path, "a table", v, f"write it as [{path}]")
    return v


def _number(t: Mapping[str, Any], key: str, where: str, path: str, *, required: bool) -> float:
    v = t.get(key)
    if v is None and not required:
        return 0.0
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
        raise ConfigError(where, f"{path}.{key}", "a number >= 0", v)
    return float(v)


def _text(t: Mapping[str, Any], key: str, where: str, path: str, *, required: bool) -> str:
    v = t.get(key, None if required else "")
    if not isinstance(v, str) or (required and not v):
        raise ConfigError(where, f"{path}.{key}", "a non-empty string", v, "say where the factor comes from")
    return v


UNSOURCED = "unsourced"  # a factor configured without a source: reports footnote it, never invent one


def _source(t: Mapping[str, Any], key: str, where: str, path: str) -> str:
    """A factor's source; absent or empty is named "unsourced" (customer documents say so)."""
    return _text(t, key, where, path, required=False) or UNSOURCED


def parse_ghg(data: Mapping[str, Any], where: str) -> GhgFactors | None:
    """The [ghg] section, or None when the config has none (carbon stays unknown)."""
    t = _table(data, "ghg", where, "ghg")
    if not t:
        return None
    year = t.get("grid_year")
    if isinstance(year, bool) or not isinstance(year, int) or not 1990 <= year <= 2100:  # noqa: PLR2004 - a plausible factor year
        raise ConfigError(where, "ghg.grid_year", "the year the grid factor applies to (e.g. 2024)", year)
    others = []
    for name, o in _table(t, "other", where, "ghg.other").items():
        if not isinstance(o, Mapping):
            raise ConfigError(where, f"ghg.other.{name}", "a table with kg_co2e_per_t_feed and source", o)
        path = f"ghg.other.{name}"
        others.append(
            OtherInput(
                name=name,
                kg_co2e_per_t_feed=_number(o, "kg_co2e_per_t_feed", where, path, required=True),
                source=_text(o, "source", where, path, required=True),
            )
        )
    n2 = _number(t, "nitrogen_kg_co2e_per_nm3", where, "ghg", required=False)
    return GhgFactors(
        grid_kg_co2e_per_kwh=_number(t, "grid_kg_co2e_per_kwh", where, "ghg", required=True),
        grid_source=_source(t, "grid_source", where, "ghg"),
        grid_year=year,
        nitrogen_kg_co2e_per_nm3=n2,
        nitrogen_source=_source(t, "nitrogen_source", where, "ghg") if n2 > 0 else "",
        other=tuple(others),
    )


def _shares(v: object, where: str, path: str) -> Shares:
    if isinstance(v, str):
        v = {v: 1.0}
    if not isinstance(v, Mapping) or not v:
        raise ConfigError(where, path, f"one of {', '.join(ORIGIN_CLASSES)} or a table of shares", v)
    out = []
    for cls, share in v.items():
        if cls not in ORIGIN_CLASSES:
            raise ConfigError(where, f"{path}.{cls}", f"one of {', '.join(ORIGIN_CLASSES)}", cls)
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1:
            raise ConfigError(where, f"{path}.{cls}", "a share in (0, 1]", share)
        out.append((cls, float(share)))
    if abs(sum(s for _, s in out) - 1.0) > 1e-9:  # noqa: PLR2004 - shares sum to 1 up to rounding
        raise ConfigError(where, path, "shares that sum to 1", v, "e.g. { pre_consumer = 0.3, post_consumer = 0.7 }")
    return tuple(sorted(out))


def parse_origin(data: Mapping[str, Any], where: str) -> OriginMap:
    """[origin.suppliers] and [origin.feed_forms]: each name → a class or a table of shares."""
    t = _table(data, "origin", where, "origin")
    maps = {}
    for part in ("suppliers", "feed_forms"):
        sub = _table(t, part, where, f"origin.{part}")
        maps[part] = {name: _shares(v, where, f"origin.{part}.{name}") for name, v in sub.items()}
    return OriginMap(suppliers=maps["suppliers"], feed_forms=maps["feed_forms"])


def parse_passport(data: Mapping[str, Any], where: str) -> PassportSettings:
    t = _table(data, "passport", where, "passport")
    key = t.get("key")
    if key is not None and (not isinstance(key, str) or not key):
        raise ConfigError(where, "passport.key", "the path of the Ed25519 private key (PEM)", "(not a path)")
    base = Path(where).parent
    return PassportSettings(
        plant=_text(t, "plant", where, "passport", required=False),
        operator=_text(t, "operator", where, "passport", required=False),
        key=None if key is None else (Path(key) if Path(key).is_absolute() else base / key),
    )
