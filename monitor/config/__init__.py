"""Plant configuration (TOML) → validated value objects. Errors name file, field, expected, got.

May import monitor.collectors (their settings), monitor.passport (its settings), monitor.store
(to check a store URL), monitor.core and monitor.errors; the dependency runs config → collectors only.
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from monitor.collectors.addressing_syntax import check_address
from monitor.collectors.credentials import check_endpoint
from monitor.collectors.settings import OpcuaSettings
from monitor.config.pact import parse_pact
from monitor.config.passport import parse_ghg, parse_origin, parse_passport
from monitor.config.sections import (
    HttpSettings,
    Reader,
    parse_codes,
    parse_http,
    parse_stream,
)
from monitor.config.sources import Sources, SourceSettings, parse_points, parse_sources
from monitor.core.carbon import GhgFactors
from monitor.core.spec import LineSpec
from monitor.errors import ConfigError
from monitor.passport.origin import OriginMap
from monitor.passport.pact_settings import PactSettings
from monitor.passport.settings import PassportSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class ProcessTag:
    """A live process value exposed on /metrics as blackmass_<metric>{line}."""

    tag: str
    metric: str
    scale: float = 1.0
    help: str = ""
    unit: str = ""


@dataclass(frozen=True, kw_only=True)
class MonitorConfig:
    source: str
    line: LineSpec
    plant_name: str = ""  # [plant] name: on every report page and in passports
    opcua: OpcuaSettings | None  # the first OPC-UA source (its server clock leads); None: the line has none
    process: tuple[ProcessTag, ...] = ()
    http: HttpSettings = field(default_factory=HttpSettings)
    nodes: Mapping[str, str] = field(default_factory=dict)
    settle_s: float = 0.0
    checkpoint_every_s: float = 5.0  # wall seconds between checkpoints of the batch in progress
    yield_floors: Mapping[str, float] = field(default_factory=dict)  # feed form -> lowest acceptable yield
    ghg: GhgFactors | None = None  # emission factors; None: carbon per lot unknown
    origin: OriginMap = field(default_factory=OriginMap)  # supplier / feed form -> pre-/post-consumer
    passport: PassportSettings = field(default_factory=PassportSettings)
    pact: PactSettings = field(default_factory=PactSettings)  # [pact]: PACT v3 footprints and their API
    store_url: str | None = None  # [store] url; None: sqlite:///<data-dir>/blackmass.db
    store_password_file: Path | None = None  # [store] password_file (the password itself never in a config)
    sources: Sources | None = None  # every source and each tag's; None: the one [opcua] source

    @property
    def opcua_name(self) -> str:
        """The primary source: the one `opcua` holds (the first OPC-UA source; "opcua" for [opcua]), or
        on a line with no OPC-UA source the lot id's."""
        return self.sources.primary if self.sources else "opcua"

    def other_sources(self) -> dict[str, SourceSettings]:
        """Every source but the one `opcua` holds, by name (all of them on a line with no OPC-UA source)."""
        if self.sources is None:
            return {}
        held = self.sources.primary if self.opcua is not None else None
        return {n: s for n, s in self.sources.settings.items() if n != held}

    def source_names(self) -> list[str]:
        """Every source of the line, the primary first."""
        return list(dict.fromkeys([self.opcua_name, *(self.sources.settings if self.sources else ())]))

    def tag_addresses(self, source: str | None = None) -> dict[str, str]:
        """The tags an OPC-UA source subscribes to (default: the primary) → node address (explicit or by URI)."""
        source = source or self.opcua_name
        settings = self.sources.settings[source] if self.sources and source != self.opcua_name else self.opcua
        ns = settings.namespace_uri if isinstance(settings, OpcuaSettings) else ""
        out: dict[str, str] = {}
        for t in self.all_tags():
            if self.sources is None or self.sources.source_of(t) == source:
                explicit = self.sources.nodes.get(t) if self.sources else None
                out[t] = explicit or self.nodes.get(t) or f"nsu={ns};s={t}"
        return out

    def all_tags(self) -> list[str]:
        """Every tag the line uses, once each, in a stable order."""
        tags: list[str] = [self.line.batch_id_tag]
        tags += [t for t in (self.line.chemistry_tag, self.line.feed_form_tag, self.line.supplier_tag) if t]
        tags += [t for t in (self.line.energy_tag, self.line.nitrogen_tag) if t]
        for s in self.line.streams:
            tags += [t for t in (s.tag, s.bag_id_tag) if t]
        tags += [p.tag for p in self.process]
        return list(dict.fromkeys(tags))

    def with_endpoint(self, endpoint: str) -> MonitorConfig:
        check_endpoint(endpoint, "--endpoint", "endpoint")
        if self.opcua is None:
            raise ConfigError(self.source, "--endpoint", "a line with an OPC-UA source", "none",
                              "this line's sources are " + ", ".join(self.source_names()))  # fmt: skip
        return replace(self, opcua=replace(self.opcua, endpoint=endpoint))


def _process(root: Reader, where: str) -> list[ProcessTag]:
    """[process.<tag>]: live process values exposed on /metrics."""
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
    return process


def _nodes(root: Reader, where: str) -> Reader:
    """[nodes]: tag -> explicit node id or browse path, each checked."""
    nodes_t = root.sub("nodes", required=False)
    for k, v in nodes_t.table.items():
        if not isinstance(v, str) or not v:
            raise ConfigError(where, f"nodes.{k}", "a node id (ns=…;s=…, nsu=…;s=…) or a browse path", v)
        try:
            check_address(v)
        except ValueError as exc:
            raise ConfigError(where, f"nodes.{k}", "a node id or a browse path", v, str(exc)) from exc
    return nodes_t


def _store(root: Reader, where: str) -> tuple[str | None, str | None]:
    """[store]: url and password_file (never a password)."""
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
    return store_url, pw_file


def parse_config(data: Mapping[str, Any], where: str) -> MonitorConfig:
    root = Reader(where, data)
    line = root.sub("line")
    settings = parse_sources(root, where)
    opcua = next((s for s in settings.values() if isinstance(s, OpcuaSettings)), None)
    sampling = opcua.sampling if opcua else {}
    tags = root.sub("tags")
    streams_t = root.sub("streams")
    streams = tuple(parse_stream(streams_t.sub(name), name) for name in streams_t.table)
    inputs = [s for s in streams if s.direction == "in"]
    if len(inputs) != 1:
        raise ConfigError(
            where, "streams", 'exactly one stream with direction = "in" (the feed)', [s.name for s in inputs]
        )
    if "black_mass" not in {s.name for s in streams}:
        raise ConfigError(where, "streams.black_mass", "a black_mass stream", None)
    process = _process(root, where)
    alerts_t = root.sub("alerts", required=False)
    floors_t = alerts_t.sub("black_mass_yield_floor", required=False)
    floors = {form: floors_t.num(form, lo=0.0, hi=1.0) for form in floors_t.table}
    alerts_t.done()
    http_t = root.sub("http", required=False)
    nodes_t = _nodes(root, where)
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
        scan_s=line.num("scan_s", 0.1, lo=0, hi=1.0),
        idle_ids=tags.words("idle_values"),
        codes=parse_codes(root, roles),
    )
    tags.done()
    # a counter sampled every N ms reports increments that happened within those N ms
    spec = replace(
        spec,
        streams=tuple(
            replace(st, min_cycle_s=max(st.min_cycle_s, sampling[st.tag].interval_ms / 1000.0))
            if st.tag is not None and st.tag in sampling
            else st
            for st in spec.streams
        ),
    )
    store_url, pw_file = _store(root, where)
    cfg = MonitorConfig(
        source=where,
        store_url=store_url,
        store_password_file=Path(where).parent / pw_file if pw_file else None,
        line=spec,
        opcua=opcua,
        process=tuple(process),
        http=parse_http(http_t, where),
        yield_floors=floors,
        nodes=dict(nodes_t.table),
        settle_s=line.num("settle_s", 0.0, lo=0),
        checkpoint_every_s=line.num("checkpoint_every_s", 5.0, lo=0.1),
        ghg=parse_ghg(root),
        origin=parse_origin(root),
        passport=parse_passport(root),
        pact=parse_pact(root),
    )
    cfg = _with_sources(cfg, parse_points(root, where, settings, cfg.all_tags()))
    cfg = _with_plant_name(cfg, root.sub("plant", required=False), where)
    line.done()
    streams_t.done(*streams_t.table)
    root.done()
    return cfg


def _with_sources(cfg: MonitorConfig, sources: Sources) -> MonitorConfig:
    """Each tag's source known; `opcua` is the primary OPC-UA source's settings (None: the line has none)."""
    primary = sources.settings[sources.primary]
    return replace(cfg, sources=sources, opcua=primary if isinstance(primary, OpcuaSettings) else None)


def _with_plant_name(cfg: MonitorConfig, plant: Reader, where: str) -> MonitorConfig:
    """[plant] name is the one home of the plant's name; the old [passport] plant still works, with a warning."""
    name = plant.opt_text("name")
    plant.done()
    old = cfg.passport.plant
    if old and not name:
        log.warning("%s: [passport] plant is deprecated; move it to [plant] name = %r", where, old)
        name = old
    name = name or ""
    return replace(cfg, plant_name=name, passport=replace(cfg.passport, plant=name))


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
