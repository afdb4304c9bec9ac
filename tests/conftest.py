"""Shared fixtures: free ports and system tools that some tests need."""

from __future__ import annotations

import os
import shutil
import socket

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require_tool(name: str, package: str) -> str:
    """The tool's path; in CI (CI=true) a missing tool fails the test instead of skipping it."""
    path = shutil.which(name)
    if path:
        return path
    msg = f"{name} not found: install Debian's '{package}' (apt-get install {package}); `make test` does it as root"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture
def promtool() -> str:
    return require_tool("promtool", "prometheus")
