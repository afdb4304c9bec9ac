"""[pact] of a config: who we are in PACT v3 documents and how the PACT API hands out tokens.

Keys (docs/data-exchange.md): company_name, company_ids (URNs), domain (our URN namespace:
urn:pact:<domain>:product-id:<lot id>), geography_country (ISO 3166-1 alpha-2), product_classifications
(URNs), public_url (where `serve` is reachable: the extension schema's stable URL is built on it),
token_ttl_s, clients_file (TOML of client ids and hashed secrets, beside those in the store).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.errors import ConfigError

PACT_KEYS = (
    "company_name",
    "company_ids",
    "domain",
    "geography_country",
    "product_classifications",
    "public_url",
    "token_ttl_s",
    "clients_file",
)
URN = re.compile(r"^urn:[A-Za-z0-9][A-Za-z0-9-]{0,31}:\S+$")
DOMAIN = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$")
COUNTRY = re.compile(r"^[A-Z]{2}$")


@dataclass(frozen=True, kw_only=True)
class PactSettings:
    company_name: str = ""
    company_ids: tuple[str, ...] = ()
    domain: str = "blackmass.invalid"  # .invalid: an unconfigured plant never claims a real namespace
    geography_country: str | None = None
    product_classifications: tuple[str, ...] = ()
    public_url: str | None = None
    token_ttl_s: float = 3600.0
    clients_file: Path | None = None

    @property
    def base_url(self) -> str:
        return (self.public_url or f"https://{self.domain}").rstrip("/")

    def company(self, plant: str) -> tuple[str, tuple[str, ...]]:
        """Our name and URN ids: the configured ones, else the plant's name and urn:pact:<domain>:company-id:plant."""
        name = self.company_name or plant or self.domain
        return name, self.company_ids or (f"urn:pact:{self.domain}:company-id:plant",)


def _urns(v: object, where: str, key: str) -> tuple[str, ...]:
    if v is None:
        return ()
    if not isinstance(v, list) or not all(isinstance(x, str) and URN.match(x) for x in v):
        raise ConfigError(where, f"pact.{key}", "a list of URNs like urn:pact:example.com:company-id:1234", v)
    return tuple(v)


def parse_pact(data: Mapping[str, Any], where: str) -> PactSettings:
    """The [pact] section (absent: defaults); errors name the file, the key, what was expected and got."""
    t = data.get("pact", {})
    if not isinstance(t, Mapping):
        raise ConfigError(where, "pact", "a table", t, "write it as [pact]")
    unknown = sorted(set(t) - set(PACT_KEYS))
    if unknown:
        raise ConfigError(where, f"pact.{unknown[0]}", f"a key of [pact] ({', '.join(PACT_KEYS)})", unknown[0])
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
    base = Path(where).parent
    return PactSettings(
        company_name=name,
        company_ids=_urns(t.get("company_ids"), where, "company_ids"),
        domain=domain,
        geography_country=country,
        product_classifications=_urns(t.get("product_classifications"), where, "product_classifications"),
        public_url=url,
        token_ttl_s=float(ttl),
        clients_file=None if clients is None else base / clients,
    )
