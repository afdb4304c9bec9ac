"""[pact] of a config → PactSettings, read like every other section (sections.Reader: errors name
file and field, an unknown key is refused by `check-config` too). The keys are described in
monitor/passport/pact_settings.py and docs/data-exchange.md."""

from __future__ import annotations

import re
from pathlib import Path

from monitor.config.sections import Reader
from monitor.errors import ConfigError
from monitor.passport.pact_settings import PactSettings

URN = re.compile(r"^urn:[A-Za-z0-9][A-Za-z0-9-]{0,31}:\S+$")
DOMAIN = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$")
COUNTRY = re.compile(r"^[A-Z]{2}$")


def _urns(t: Reader, key: str) -> tuple[str, ...]:
    v = t.get(key)
    if v is None:
        return ()
    if not isinstance(v, list) or not all(isinstance(x, str) and URN.match(x) for x in v):
        raise ConfigError(t.where, f"pact.{key}", "a list of URNs like urn:pact:example.com:company-id:1234", v)
    return tuple(v)


def parse_pact(root: Reader) -> PactSettings:
    """The [pact] section (absent: defaults); errors name the file, the key, what was expected and got."""
    t = root.sub("pact", required=False)
    where = t.where
    name = t.get("company_name", "")
    if not isinstance(name, str):
        raise ConfigError(where, "pact.company_name", "a string", name)
    domain = t.get("domain", PactSettings.domain)
    if not isinstance(domain, str) or not DOMAIN.match(domain):
        raise ConfigError(where, "pact.domain", "a lower-case DNS name we own, e.g. blackmass.example", domain)
    country = t.get("geography_country")
    if country is not None and (not isinstance(country, str) or not COUNTRY.match(country)):
        raise ConfigError(where, "pact.geography_country", "an ISO 3166-1 alpha-2 code like DE or US", country)
    url = t.get("public_url")
    if url is not None and (not isinstance(url, str) or not url.startswith("https://")):
        raise ConfigError(where, "pact.public_url", "an https:// URL (PACT is served over HTTPS only)", url)
    ttl = t.get("token_ttl_s", 3600)
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 60 <= ttl <= 86_400:  # noqa: PLR2004 - 1 min .. 1 day
        raise ConfigError(where, "pact.token_ttl_s", "seconds between 60 and 86400", ttl)
    clients = t.get("clients_file")
    if clients is not None and (not isinstance(clients, str) or not clients):
        raise ConfigError(where, "pact.clients_file", "the path of a TOML file of PACT clients", clients)
    settings = PactSettings(
        company_name=name,
        company_ids=_urns(t, "company_ids"),
        domain=domain,
        geography_country=country,
        product_classifications=_urns(t, "product_classifications"),
        public_url=url,
        token_ttl_s=float(ttl),
        clients_file=None if clients is None else Path(where).parent / clients,
    )
    t.done()
    return settings
