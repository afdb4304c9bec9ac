"""[ghg], [origin] and [passport] of the plant config → value objects, read like every other section
(sections.Reader: errors name file and field, an unknown key is refused by `check-config` too)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

from monitor.config.sections import Reader
from monitor.core.carbon import UNSOURCED, GhgFactors, OtherInput
from monitor.errors import ConfigError
from monitor.passport.origin import ORIGIN_CLASSES, OriginMap, Shares
from monitor.passport.settings import PassportSettings


def _number(t: Reader, key: str, *, required: bool) -> float:
    v = t.get(key)
    if v is None and not required:
        return 0.0
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
        raise ConfigError(t.where, f"{t.prefix}{key}", "a number >= 0", v)
    return float(v)


def _text(t: Reader, key: str, *, required: bool) -> str:
    v = t.get(key, None if required else "")
    if not isinstance(v, str) or (required and not v):
        raise ConfigError(t.where, f"{t.prefix}{key}", "a non-empty string", v, "say where the factor comes from")
    return v


def _source(t: Reader, key: str) -> str:
    """A factor's source; absent or empty is named "unsourced" (customer documents say so)."""
    return _text(t, key, required=False) or UNSOURCED


def parse_ghg(root: Reader) -> GhgFactors | None:
    """The [ghg] section, or None when the config has none (carbon stays unknown)."""
    t = root.sub("ghg", required=False)
    if not t.table:
        return None
    year = t.get("grid_year")
    if isinstance(year, bool) or not isinstance(year, int) or not 1990 <= year <= 2100:  # noqa: PLR2004 - a plausible factor year
        raise ConfigError(t.where, "ghg.grid_year", "the year the grid factor applies to (e.g. 2024)", year)
    others = []
    other_t = t.sub("other", required=False)
    for name in other_t.table:
        o = other_t.sub(name)
        others.append(
            OtherInput(
                name=name,
                kg_co2e_per_t_feed=_number(o, "kg_co2e_per_t_feed", required=True),
                source=_text(o, "source", required=True),
            )
        )
        o.done()
    other_t.done()
    n2 = _number(t, "nitrogen_kg_co2e_per_nm3", required=False)
    ghg = GhgFactors(
        grid_kg_co2e_per_kwh=_number(t, "grid_kg_co2e_per_kwh", required=True),
        grid_source=_source(t, "grid_source"),
        grid_year=year,
        nitrogen_kg_co2e_per_nm3=n2,
        nitrogen_source=_source(t, "nitrogen_source") if n2 > 0 else "",
        other=tuple(others),
    )
    t.get("nitrogen_source")  # known even when no nitrogen factor uses it
    t.done()
    return ghg


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


def parse_origin(root: Reader) -> OriginMap:
    """[origin.suppliers] and [origin.feed_forms]: each name → a class or a table of shares."""
    t = root.sub("origin", required=False)
    maps = {}
    for part in ("suppliers", "feed_forms"):
        sub = t.sub(part, required=False)
        maps[part] = {name: _shares(v, t.where, f"origin.{part}.{name}") for name, v in sub.table.items()}
    t.done()
    return OriginMap(suppliers=maps["suppliers"], feed_forms=maps["feed_forms"])


def parse_passport(root: Reader) -> PassportSettings:
    """[passport]: operator and the signing key's file (relative to the config); plant is the old
    home of [plant] name (config/__init__.py moves it and warns)."""
    t = root.sub("passport", required=False)
    key = t.get("key")
    if key is not None and (not isinstance(key, str) or not key):
        raise ConfigError(t.where, "passport.key", "the path of the Ed25519 private key (PEM)", "(not a path)")
    base = Path(t.where).parent
    settings = PassportSettings(
        plant=_text(t, "plant", required=False),
        operator=_text(t, "operator", required=False),
        key=None if key is None else (Path(key) if Path(key).is_absolute() else base / key),
    )
    t.done()
    return settings
