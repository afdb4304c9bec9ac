"""The typed TOML reader and the parsers of the config's smaller sections (streams, security, http,
sampling, clock, codes). Errors name file, field, expected, got."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.collectors.credentials import SecuritySettings
from monitor.collectors.sampling import DEADBAND_TYPES, TagSampling
from monitor.collectors.timestamps import ClockPolicy, TimestampMode
from monitor.core.spec import STREAM_NAMES, SourceKind, StreamSpec
from monitor.errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class HttpSettings:
    host: str = "127.0.0.1"  # localhost unless the config says otherwise
    port: int = 9464
    tls_certificate: Path | None = None  # PEM; with tls_key, the service speaks HTTPS only
    tls_key: Path | None = None
    # how people reach this monitor (runbook links in alerts); None: built from host and port
    external_url: str | None = None
    read_token: str | None = None  # when set, the web pages and /api reads need a login (or this bearer token)
    grafana_url: str | None = None  # base of the web pages' "open in Grafana" links; None: no link


class Reader:
    """Typed access to a TOML table that reports the dotted field path on every error."""

    def __init__(self, where: str, table: Mapping[str, Any], prefix: str = "") -> None:
        self.where, self.table, self.prefix = where, table, prefix
        self.used: set[str] = set()

    def _path(self, key: str) -> str:
        self.used.add(key)
        return f"{self.prefix}{key}"

    def get(self, key: str, default: Any = None) -> Any:
        self.used.add(key)
        return self.table.get(key, default)

    def done(self, *free: str) -> None:
        """Refuse keys nobody read: a misspelt key must not silently become its default."""
        unknown = [k for k in self.table if k not in self.used and k not in free]
        if not unknown:
            return
        key = unknown[0]
        known = sorted(self.used | set(free))
        near = difflib.get_close_matches(key, known, n=1, cutoff=0.5)
        section = self.prefix.rstrip(".") or "the top level"
        raise ConfigError(
            self.where,
            f"{self.prefix}{key}",
            f"a key of [{section}] ({', '.join(known)})" if known else f"no keys in [{section}]",
            key,
            f"unknown key in [{section}]; did you mean `{near[0]}`?" if near else f"unknown key in [{section}]",
        )

    def sub(self, key: str, required: bool = True) -> Reader:
        self.used.add(key)
        v = self.table.get(key)
        if v is None and not required:
            return Reader(self.where, {}, f"{self._path(key)}.")
        if not isinstance(v, Mapping):
            raise ConfigError(self.where, self._path(key), "a table", v, f"add a [{self._path(key)}] section")
        return Reader(self.where, v, f"{self._path(key)}.")

    def text(self, key: str, default: str | None = None) -> str:
        v = self.get(key, default)
        if not isinstance(v, str) or (default is None and not v):
            raise ConfigError(self.where, self._path(key), "a non-empty string", v)
        return v

    def flag(self, key: str, default: bool) -> bool:
        v = self.get(key, default)
        if not isinstance(v, bool):
            raise ConfigError(self.where, self._path(key), "true or false", v)
        return v

    def opt_text(self, key: str) -> str | None:
        v = self.get(key)
        if v is None:
            return None
        if not isinstance(v, str) or not v:
            raise ConfigError(self.where, self._path(key), "a non-empty string or absent", v)
        return v

    def num(self, key: str, default: float | None = None, *, lo: float | None = None, hi: float | None = None) -> float:
        v = self.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ConfigError(self.where, self._path(key), "a number", v)
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise ConfigError(self.where, self._path(key), f"a number in [{lo}, {hi}]", v)
        return float(v)

    def opt_num(self, key: str, *, lo: float | None = None) -> float | None:
        return None if self.get(key) is None else self.num(key, lo=lo)

    def choice(self, key: str, default: str, options: tuple[str, ...]) -> str:
        v = self.text(key, default)
        if v not in options:
            raise ConfigError(self.where, self._path(key), f"one of {', '.join(options)}", v)
        return v

    def words(self, key: str) -> tuple[str, ...]:
        v = self.get(key, [])
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise ConfigError(self.where, self._path(key), "a list of strings", v)
        return tuple(v)


def parse_stream(r: Reader, name: str) -> StreamSpec:
    if name not in STREAM_NAMES:
        raise ConfigError(r.where, f"streams.{name}", f"one of {', '.join(STREAM_NAMES)}", name)
    kinds = [k.value for k in SourceKind]
    source = r.text("source", "totalizer")
    if source not in kinds:
        raise ConfigError(r.where, f"streams.{name}.source", f"one of {', '.join(kinds)}", source)
    kind = SourceKind(source)
    direction = r.text("direction", "in" if name == "feed" else "out")
    if direction not in ("in", "out"):
        raise ConfigError(r.where, f"streams.{name}.direction", "'in' or 'out'", direction)
    tag = r.opt_text("tag")
    if kind not in (SourceKind.UNMEASURED, SourceKind.ESTIMATE) and tag is None:
        raise ConfigError(
            r.where,
            f"streams.{name}.tag",
            "the tag of the mass source",
            None,
            'give the tag name, or source = "unmeasured"',
        )
    bag_id_tag = r.opt_text("bag_id_tag")
    if kind is SourceKind.WEIGHING and bag_id_tag is None:
        raise ConfigError(
            r.where,
            f"streams.{name}.bag_id_tag",
            "the tag carrying the bag id",
            None,
            "weighings are de-duplicated by bag id",
        )
    spec = StreamSpec(
        name=name,
        direction=direction,
        source=kind,
        tag=tag,
        bag_id_tag=bag_id_tag,
        accuracy=r.num("accuracy", 0.01, lo=0.0, hi=10.0),
        delay_s=r.num("delay_s", 0.0, lo=0.0),
        rollover=r.opt_num("rollover", lo=1.0),
        max_gap_s=r.num("max_gap_s", 600.0, lo=0.0),
        plausible_max=r.opt_num("plausible_max", lo=0.0),
        estimate_ratio=r.num("estimate_ratio", 0.0, lo=0.0, hi=1.0),
        grade_factor=r.num("grade_factor", 1.0, lo=0.0, hi=10.0),
        scale=r.num("scale", 1.0, lo=1e-9),
        min_cycle_s=r.num("update_cycle_s", 0.0, lo=0.0),
        bag_scope=r.choice("bag_scope", "plant", ("plant", "lot")),
    )
    r.done()
    return spec


def parse_security(op: Reader, where: str) -> SecuritySettings:
    sec_table = op.table.get("security")
    for key in ("password", "passwd", "secret"):
        if key in op.table or (isinstance(sec_table, dict) and key in sec_table):
            raise ConfigError(
                where,
                f"opcua.security.{key}",
                "no password in the config file",
                "(a password)",
                "set BLACKMASS_OPCUA_PASSWORD or point [opcua.security] password_file at a secrets file",
            )
    sec = op.sub("security", required=False)
    base = Path(where).parent

    def path(key: str) -> Path | None:
        v = sec.opt_text(key)
        return None if v is None else (base / v if not Path(v).is_absolute() else Path(v))

    settings = SecuritySettings(
        policy=sec.text("policy", "None"),
        mode=sec.text("mode", "None"),
        certificate=path("certificate"),
        private_key=path("private_key"),
        server_certificate=path("server_certificate"),
        username=sec.opt_text("username"),
        password_file=path("password_file"),
    )
    sec.done()
    settings.check(where)
    return settings


def parse_http(t: Reader, where: str) -> HttpSettings:
    base = Path(where).parent
    cert, key = t.opt_text("tls_certificate"), t.opt_text("tls_key")
    if (cert is None) != (key is None):
        raise ConfigError(where, "http.tls_key", "tls_certificate and tls_key together (PEM files)", key or cert)
    external = t.opt_text("external_url")
    if external is not None and not external.startswith(("http://", "https://")):
        # alerts carry this link to phones: a relative or schemeless URL would not open there
        raise ConfigError(where, "http.external_url", "an absolute http:// or https:// URL", external)
    http = HttpSettings(
        host=t.text("host", "127.0.0.1"),
        port=int(t.num("port", 9464, lo=0, hi=65535)),
        tls_certificate=base / cert if cert else None,
        tls_key=base / key if key else None,
        external_url=external.rstrip("/") if external else None,
        read_token=t.opt_text("read_token") or None,
        grafana_url=_absolute_url(t.opt_text("grafana_url"), where, "http.grafana_url"),
    )
    t.done()
    return http


def _absolute_url(url: str | None, where: str, field: str) -> str | None:
    if url is not None and not url.startswith(("http://", "https://")):
        raise ConfigError(where, field, "an absolute http:// or https:// URL", url)
    return url.rstrip("/") if url else None


def parse_sampling(root: Reader) -> dict[str, TagSampling]:
    """[sampling."Tag"]: per-tag sampling interval and deadband."""
    table = root.sub("sampling", required=False)
    out = {}
    for tag in table.table:
        t = table.sub(tag)
        kind = t.choice("deadband_type", "none" if t.get("deadband") is None else "absolute", DEADBAND_TYPES)
        out[tag] = TagSampling(
            interval_ms=t.num("sampling_interval_ms", 0.0, lo=0.0),
            deadband=t.num("deadband", 0.0, lo=0.0, hi=100.0 if kind == "percent" else None),
            deadband_type=kind,
        )
        t.done()
    return out


def parse_clock(op: Reader) -> ClockPolicy:
    return ClockPolicy(
        mode=TimestampMode(op.choice("timestamps", "source", tuple(m.value for m in TimestampMode))),
        max_backstep_s=op.num("max_backstep_s", 300.0, lo=0.0),
        align_min_s=op.num("clock_align_min_s", 30.0, lo=0.0),
        warn_s=op.num("clock_warn_s", 60.0, lo=0.0),
        decide_within_s=op.num("decide_within_s", 120.0, lo=0.0),
    )


def parse_codes(root: Reader, roles: Mapping[str, str | None]) -> dict[str, dict[str, str]]:
    """[codes.chemistry] 3 = "NMC811": integer codes of an attribute tag -> their text."""
    table = root.sub("codes", required=False)
    out: dict[str, dict[str, str]] = {}
    for role in table.table:
        if role not in roles:
            raise ConfigError(table.where, f"codes.{role}", f"one of {', '.join(roles)}", role)
        t = table.sub(role)
        tag = roles[role]
        if tag is None:
            raise ConfigError(table.where, f"codes.{role}", f"a [tags] {role} tag to map", None)
        codes = {}
        for code in t.table:
            if not code.lstrip("-").isdigit():
                raise ConfigError(table.where, f"codes.{role}.{code}", "an integer code", code)
            codes[str(int(code))] = t.text(code)
        out[tag] = codes
    return out
