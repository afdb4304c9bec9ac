"""[pact] of a config: who we are in PACT v3 documents and how the PACT API hands out tokens
(read by monitor/config/pact.py, like every section).

Keys (docs/data-exchange.md): company_name, company_ids (URNs), domain (our URN namespace:
urn:pact:<domain>:product-id:<lot id>), geography_country (ISO 3166-1 alpha-2), product_classifications
(URNs), public_url (where `serve` is reachable: the extension schema's stable URL is built on it),
token_ttl_s, clients_file (TOML of client ids and hashed secrets, beside those in the store).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


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
