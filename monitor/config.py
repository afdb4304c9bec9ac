"""Plant configuration (TOML) → validated value objects. Errors name file, field, expected, got."""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.collectors.addressing_syntax import check_address
from monitor.collectors.credentials import SecuritySettings
from monitor.collectors.sampling import DEADBAND_TYPES, TagSampling
from monitor.collectors.settings import OpcuaSettings
from monitor.collectors.timestamps import ClockPolicy, TimestampMode
from monitor.core.carbon import GhgFactors
from monitor.core.spec import STREAM_NAMES, LineSpec, SourceKind, StreamSpec
from monitor.errors import ConfigError
from monitor.passport.origin import OriginMap
from monitor.passport.settings import PassportSettings, parse_ghg, parse_origin, parse_passport


@dataclass(frozen=True, kw_only=True)
class ProcessTag:
    """A live process value exposed on /metrics as blackmass_<metric>{line}."""

    tag: str
    metric: str
    scale: float = 1.0
    help: str = ""
    unit: str = ""


@dataclass(frozen=True, kw_only=True)
class HttpSettings:
    host: str = "127.0.0.1"  # localhost unless the config says otherwise
    port: int = 9464
    tls_certificate: Path | None = None  # PEM; with tls_key, the service speaks HTTPS only
    tls_key: Path | None = None
    # how people reach this monitor (runbook links in alerts); None: built from host and port
    external_url: str | None = None


@dataclass(frozen=True, kw_only=True)
class MonitorConfig:
    source: str
    line: LineSpec
    opcua: OpcuaSettings
    process: tuple[ProcessTag, ...] = ()
    http: HttpSettings = field(default_factory=HttpSettings)
    nodes: Mapping[str, str] = field(default_factory=dict)
    settle_s: float = 0.0
    checkpoint_every_s: float = 5.0  # wall seconds between checkpoints of the batch in progress
    yield_floors: Mapping[str, float] = field(default_factory=dict)  # feed form -> lowest acceptable yield
    ghg: GhgFactors | None = None  # emission factors; None: carbon per lot unknown
    origin: OriginMap = field(default_factory=OriginMap)  # supplier / feed form -> pre-/post-consumer
    passport: PassportSettings = field(default_factory=PassportSettings)
    store_url: str | None = None  # [store] url; None: sqlite:///<data-dir>/blackmass.db
    store_password_file: Path | None = None  # [store] password_file (the password itself never in a config)

    def tag_addresses(self) -> dict[str, str]:
        """Every tag the service subscribes to → its node address (explicit or by namespace URI)."""
        tags: list[str] = [self.line.batch_id_tag]
        tags += [t for t in (self.line.chemistry_tag, self.line.feed_form_tag, self.line.supplier_tag) if t]
        tags += [t for t in (self.line.energy_tag, self.line.nitrogen_tag) if t]
        for s in self.line.streams:
            tags += [t for t in (s.tag, s.bag_id_tag) if t]
        tags += [p.tag for p in self.process]
        out: dict[str, str] = {}
        for t in dict.fromkeys(tags):
            out[t] = self.nodes.get(t) or f"nsu={self.opcua.namespace_uri};s={t}"
        return out

    def with_endpoint(self, endpoint: str) -> MonitorConfig:
        return replace(self, opcua=replace(self.opcua, endpoint=endpoint))


class _Reader:
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

    def sub(self, key: str, required: bool = True) -> _Reader:
        self.used.add(key)
        v = self.table.get(key)
        if v is None and not required:
            return _Reader(self.where, {}, f"{self._path(key)}.")
        if not isinstance(v, Mapping):
            raise ConfigError(self.where, self._path(key), "a table", v, f"add a [{self._path(key)}] section")
        return _Reader(self.where, v, f"{self._path(key)}.")

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


def _stream(r: _Reader, name: str) -> StreamSpec:
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


def _security(op: _Reader, where: str) -> SecuritySettings:
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


def _http(t: _Reader, where: str) -> HttpSettings:
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
    )
    t.done()
    return http


def _sampling(root: _Reader) -> dict[str, TagSampling]:
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


def _clock(op: _Reader) -> ClockPolicy:
    return ClockPolicy(
        mode=TimestampMode(op.choice("timestamps", "source", tuple(m.value for m in TimestampMode))),
        max_backstep_s=op.num("max_backstep_s", 300.0, lo=0.0),
        align_min_s=op.num("clock_align_min_s", 30.0, lo=0.0),
        warn_s=op.num("clock_warn_s", 60.0, lo=0.0),
    )


def _codes(root: _Reader, roles: Mapping[str, str | None]) -> dict[str, dict[str, str]]:
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


def parse_config(data: Mapping[str, Any], where: str) -> MonitorConfig:
    root = _Reader(where, data)
    line = root.sub("line")
    op = root.sub("opcua")
    endpoint = op.text("endpoint")
    if not endpoint.startswith("opc.tcp://"):
        raise ConfigError(where, "opcua.endpoint", "an opc.tcp://host:port/path URL", endpoint)
    opcua = OpcuaSettings(
        endpoint=endpoint,
        namespace_uri=op.text("namespace_uri", ""),
        publishing_interval_ms=op.num("publishing_interval_ms", 250, lo=10),
        sampling_interval_ms=op.num("sampling_interval_ms", 0, lo=0),
        queue_size=int(op.num("queue_size", 1000, lo=1, hi=100_000)),
        timeout_s=op.num("timeout_s", 4, lo=0.1),
        reconnect_min_s=op.num("reconnect_min_s", 0.5, lo=0.01),
        reconnect_max_s=op.num("reconnect_max_s", 10, lo=0.1),
        batch_size=int(op.num("batch_size", 500, lo=1, hi=5000)),
        backfill=op.flag("backfill", True),
        backfill_max_s=op.num("backfill_max_s", 86_400, lo=0),
        security=_security(op, where),
        clock=_clock(op),
        clock_check_s=op.num("clock_check_s", 5.0, lo=0.1),
        clock_margin_s=op.num("clock_margin_s", 0.0, lo=0.0),
        sampling=_sampling(root),
    )
    op.done()
    tags = root.sub("tags")
    streams_t = root.sub("streams")
    streams = tuple(_stream(streams_t.sub(name), name) for name in streams_t.table)
    inputs = [s for s in streams if s.direction == "in"]
    if len(inputs) != 1:
        raise ConfigError(
            where, "streams", 'exactly one stream with direction = "in" (the feed)', [s.name for s in inputs]
        )
    if "black_mass" not in {s.name for s in streams}:
        raise ConfigError(where, "streams.black_mass", "a black_mass stream", None)
    process_t = root.sub("process", required=False)
    process = []
    for tag in process_t.table:
        p = process_t.sub(tag)
        metric = p.text("metric")
        if not metric.replace("_", "").isalnum() or not metric[0].isalpha():
            raise ConfigError(where, f"process.{tag}.metric", "a metric name [a-z_0-9]", metric)
        process.append(
            ProcessTag(
                tag=tag, metric=metric, scale=p.num("scale", 1.0), help=p.text("help", ""), unit=p.text("unit", "")
            )
        )
        p.done()
    alerts_t = root.sub("alerts", required=False)
    floors_t = alerts_t.sub("black_mass_yield_floor", required=False)
    floors = {form: floors_t.num(form, lo=0.0, hi=1.0) for form in floors_t.table}
    alerts_t.done()
    http_t = root.sub("http", required=False)
    nodes_t = root.sub("nodes", required=False)
    for k, v in nodes_t.table.items():
        if not isinstance(v, str) or not v:
            raise ConfigError(where, f"nodes.{k}", "a node id (ns=…;s=…, nsu=…;s=…) or a browse path", v)
        try:
            check_address(v)
        except ValueError as exc:
            raise ConfigError(where, f"nodes.{k}", "a node id or a browse path", v, str(exc)) from exc
    roles = {r: tags.opt_text(r) for r in ("chemistry", "feed_form", "supplier")}
    spec = LineSpec(
        line=line.text("name"),
        batch_id_tag=tags.text("batch_id"),
        chemistry_tag=tags.opt_text("chemistry"),
        feed_form_tag=tags.opt_text("feed_form"),
        supplier_tag=tags.opt_text("supplier"),
        energy_tag=tags.opt_text("energy"),
        nitrogen_tag=tags.opt_text("nitrogen"),
        streams=streams,
        abandon_after_s=line.num("abandon_after_s", 4 * 3600, lo=60),
        stale_after_s=line.num("stale_after_s", 900, lo=0),
        resume_within_s=line.num("resume_within_s", 6 * 3600, lo=0),
        attributes_settle_s=line.num("attributes_settle_s", 5.0, lo=0),
        process_tags=tuple(p.tag for p in process),
        idle_ids=tags.words("idle_values"),
        codes=_codes(root, roles),
    )
    tags.done()
    # a counter sampled every N ms reports increments that happened within those N ms
    spec = replace(
        spec,
        streams=tuple(
            replace(st, min_cycle_s=max(st.min_cycle_s, opcua.sampling[st.tag].interval_ms / 1000.0))
            if st.tag is not None and st.tag in opcua.sampling
            else st
            for st in spec.streams
        ),
    )
    store_t = root.sub("store", required=False)
    store_url = store_t.opt_text("url")
    if store_url is not None:
        from monitor.store.url import check_url  # noqa: PLC0415 - config stays importable without the store

        check_url(store_url, f"{where}: [store] url")
    if "password" in store_t.table:
        raise ConfigError(
            where, "store.password", "no password in a config file", "a password", "use password_file or the env"
        )
    pw_file = store_t.opt_text("password_file")
    store_t.done()
    cfg = MonitorConfig(
        source=where,
        store_url=store_url,
        store_password_file=Path(where).parent / pw_file if pw_file else None,
        line=spec,
        opcua=opcua,
        process=tuple(process),
        http=_http(http_t, where),
        yield_floors=floors,
        nodes=dict(nodes_t.table),
        settle_s=line.num("settle_s", 0.0, lo=0),
        checkpoint_every_s=line.num("checkpoint_every_s", 5.0, lo=0.1),
        ghg=parse_ghg(data, where),
        origin=parse_origin(data, where),
        passport=parse_passport(data, where),
    )
    line.done()
    streams_t.done(*streams_t.table)
    for section, known in _PASSPORT_KEYS.items():  # parsed in monitor.passport; a typo is refused here too
        sub = root.sub(section, required=False)
        for key in known:
            sub.get(key)
        sub.done()
    root.done()
    return cfg


_PASSPORT_KEYS = {
    "ghg": ("grid_kg_co2e_per_kwh", "grid_source", "grid_year", "nitrogen_kg_co2e_per_nm3", "nitrogen_source", "other"),
    "origin": ("suppliers", "feed_forms"),
    "passport": ("plant", "operator", "key"),
}


def parse_when(text: str) -> float:
    """A date or datetime (naive = UTC) as epoch seconds; ValueError with the expected form."""
    try:
        dt = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"expected a date or datetime like 2026-11-01 or 2026-11-01T06:00, got {text!r}") from exc
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


def read_toml(path: str | Path) -> dict[str, Any]:
    """A TOML file as a dict; a missing, unreadable or malformed file is a ConfigError naming it."""
    p = Path(path)
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(str(p), "(file)", "an existing TOML file", "no such file") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(p), "(syntax)", "valid TOML", str(exc)) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(p), "(file)", "a readable UTF-8 file", str(exc)) from exc


def load_config(path: str | Path) -> MonitorConfig:
    return parse_config(read_toml(path), str(path))
