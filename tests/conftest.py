"""Shared fixtures: free ports and system tools that some tests need."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from monitor.simulator.server import free_port

# free_port has one home (the simulator); tests take it from here
__all__ = ["free_port", "require_tool", "truth_lots", "until"]


def truth_lots(data_dir: Path) -> int:
    """Lots in the simulator's ground_truth.csv so far: it writes a lot's row once its last product has
    left the line, which may come a moment after the monitor stored the lot. A demo a test stops early
    waits for this too."""
    path = data_dir / "ground_truth.csv"
    return max(0, path.read_text().count("\n") - 1) if path.exists() else 0


async def until(cond: Callable[[], bool], every_s: float = 0.1) -> None:
    """Wait for a condition on what has no event to wait on (a file another task writes, a counter)."""
    while not cond():  # noqa: ASYNC110 - there is nothing to await but the condition itself
        await asyncio.sleep(every_s)


def require_tool(name: str, package: str) -> str:
    """The tool's path; in CI (CI=true) a missing tool fails the test instead of skipping it."""
    path = shutil.which(name)
    if path:
        return path
    msg = f"{name} not found: install Debian's '{package}' (apt-get install {package}); `make test` does it as root"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(msg)
    pytest.skip(msg)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The files that run servers and demos (marked integration) first, each file's tests kept in order.
    `make test` hands whole files to the xdist workers in this order (--dist loadfile
    --no-loadscope-reorder; xdist's own order, most tests first, left the one-test demo files for last,
    one worker finishing a 70 s demo while the other stood idle): the last minute is short files on
    both workers."""
    heavy = {item.path for item in items if item.get_closest_marker("integration") is not None}
    items.sort(key=lambda item: item.path not in heavy)  # a file stays whole (module fixtures run once)


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
