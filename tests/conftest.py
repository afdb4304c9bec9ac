"""Shared fixtures: free ports and system tools that some tests need."""

from __future__ import annotations

import os
import shutil

import pytest

from monitor.simulator.server import free_port

__all__ = ["free_port", "require_tool"]  # free_port has one home (the simulator); tests take it from here


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


@pytest.fixture(scope="session")
def pg_cluster():  # type: ignore[no-untyped-def]
    """One throw-away PostgreSQL cluster per test session (a fresh database per test)."""
    from tests.pg import Cluster, server_bin  # noqa: PLC0415 - psycopg loads only for tests that need it

    bin_dir = server_bin()
    if bin_dir is None:
        require_tool("initdb", "postgresql")  # fails in CI, skips locally, naming the package
    cluster = Cluster(bin_dir)  # type: ignore[arg-type]
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path) -> str:  # type: ignore[no-untyped-def]
    """The URL of an empty store; the same test runs against both engines."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'blackmass.db'}"
    return request.getfixturevalue("pg_cluster").new_database()
