"""The passport settings value: who signs, with which key ([passport] of the plant config is read by
monitor/config/passport.py, like every other section)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from monitor.collectors.secrets import looks_like_material
from monitor.errors import InputError

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
