"""The config of `blackmass serve` and the footprint commands: a plant config, or a file of only
the sections a plant-wide server reads ([plant], [http], [pact], [passport]).

A serve file needs no [line], [opcua] or [streams]: `serve` collects nothing. A key or section it
does not know is refused naming file and key, as in the plant config.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from monitor.config import MonitorConfig, load_config, read_toml
from monitor.config.pact import parse_pact
from monitor.config.passport import parse_passport
from monitor.config.sections import HttpSettings, Reader, parse_http
from monitor.errors import ConfigError
from monitor.passport.pact_settings import PactSettings
from monitor.passport.settings import PassportSettings

SERVE_SECTIONS = ("plant", "http", "pact", "passport")


@dataclass(frozen=True, kw_only=True)
class ServeConfig:
    source: str = ""
    plant_name: str = ""
    http: HttpSettings = field(default_factory=HttpSettings)
    pact: PactSettings = field(default_factory=PactSettings)
    passport: PassportSettings = field(default_factory=PassportSettings)
    plant_config: MonitorConfig | None = None  # the whole plant config, when the file is one (web assay uploads)


def load_serve_config(path: str | Path | None) -> ServeConfig:
    """The serve settings of `path` (a missing default path: all defaults)."""
    if path is None:
        return ServeConfig()
    data = read_toml(path)
    where = str(path)
    if "line" in data:  # a whole plant config: its own parser checks every section
        cfg = load_config(path)
        return ServeConfig(
            source=where,
            plant_name=cfg.plant_name,
            http=cfg.http,
            pact=cfg.pact,
            passport=cfg.passport,
            plant_config=cfg,
        )
    unknown = sorted(set(data) - set(SERVE_SECTIONS))
    if unknown:
        raise ConfigError(
            where,
            unknown[0],
            f"a section a server reads ({', '.join(SERVE_SECTIONS)}) or a whole plant config",
            unknown[0],
        )
    root = Reader(where, data)
    plant = root.sub("plant", required=False)
    name = plant.opt_text("name") or ""
    plant.done()
    http = parse_http(root.sub("http", required=False), where)
    passport = parse_passport(root)
    serve_cfg = ServeConfig(
        source=where, plant_name=name or passport.plant, http=http, pact=parse_pact(root), passport=passport
    )
    root.done()
    return serve_cfg
