"""The LIMS inbox as an attacker and an unlucky plant would use it: links, pipes, huge files,
secrets in the first line, control characters, and importers that fail in every way."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.collectors.inbox import Inbox, inbox_once
from monitor.collectors.lims import parse_assays
from monitor.errors import InputError, StoreError

SECRET = "s3cret-token-4711"
HEAD = "batch_id,stream,element,value_pct,status,bag_id\n"
ROW = "L1-00001,black_mass,ni,30.0,final,BB-1\n"


def _read_all(path: Path) -> int:
    return len(path.read_bytes())


def _everything(inbox: Path, caplog: pytest.LogCaptureFixture) -> str:
    texts = [p.read_text(errors="replace") for p in inbox.rglob("*.reason.txt")]
    return "\n".join(texts) + caplog.text


def test_a_symlink_a_fifo_and_a_hard_link_are_refused_unread(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(f"BLACKMASS_API_TOKEN={SECRET}\n")
    inbox = tmp_path / "lims"
    inbox.mkdir()
    (inbox / "evil.csv").symlink_to(secret)
    os.mkfifo(inbox / "pipe.csv")  # opening it would block the inbox forever
    os.link(secret, inbox / "hard.csv")
    opened: list[str] = []

    def importer(p: Path) -> int:
        opened.append(p.name)
        return _read_all(p)

    with caplog.at_level(logging.WARNING):
        assert inbox_once(inbox, importer) == []
    assert opened == []
    rejected = inbox / "rejected"
    assert sorted(p.name for p in rejected.iterdir()) == sorted(
        ["evil.csv", "evil.csv.reason.txt", "pipe.csv", "pipe.csv.reason.txt", "hard.csv", "hard.csv.reason.txt"]
    )
    assert (rejected / "evil.csv").is_symlink()  # moved as a link; the target untouched
    assert secret.read_text() == f"BLACKMASS_API_TOKEN={SECRET}\n"
    assert "symbolic link" in (rejected / "evil.csv.reason.txt").read_text()
    assert "named pipe" in (rejected / "pipe.csv.reason.txt").read_text()
    assert "2 hard links" in (rejected / "hard.csv.reason.txt").read_text()
    for reason in rejected.glob("*.reason.txt"):
        assert stat.S_IMODE(reason.stat().st_mode) == 0o640
    assert SECRET not in _everything(inbox, caplog)


def test_a_secret_in_a_plain_file_is_never_quoted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from monitor.collectors.lims import read_assay_file  # noqa: PLC0415

    inbox = tmp_path / "lims"
    inbox.mkdir()
    (inbox / "env.csv").write_bytes(f"BLACKMASS_API_TOKEN={SECRET}\0PATH=/bin\0".encode())
    (inbox / "pw.csv").write_text(f"{SECRET}\n")
    (inbox / "hdr.csv").write_text(f"batch_id,stream,{SECRET}=x,value_pct\n" + ROW)
    with caplog.at_level(logging.WARNING):
        inbox_once(inbox, read_assay_file)
    text = _everything(inbox, caplog)
    assert SECRET not in text
    assert "not an assay header" in (inbox / "rejected" / "pw.csv.reason.txt").read_text()
    assert "header lacks element, status; got 'batch_id,stream,?,value_pct'" in text


@pytest.mark.parametrize(
    ("row", "says"),
    [
        ('"L1-0\x0001",black_mass,ni,30,final,BB-1\n', "field 'batch_id': expected printable text"),
        ('L1-00001,black_mass,ni,30,final,"BB\r1"\n', "field 'bag_id': expected printable text"),
        ("L1-00001,black_mass,ni,30,final,BB\u202e1\n", "field 'bag_id': expected printable text"),
        ("L1-00001,black_mass,ni,1_0,final,BB-1\n", "field 'value_pct'"),
        ("L1-00001,black_mass,ni,nan,final,BB-1\n", "field 'value_pct'"),
        ("L1-00001,black_mass,ni,\u0663\u0660,final,BB-1\n", "field 'value_pct'"),
        ("L1-00001,black_mass,ni,30,final," + "B" * 129 + "\n", "at most 128 characters"),
    ],
)
def test_control_characters_and_loose_numbers_are_refused(row: str, says: str) -> None:
    with pytest.raises(InputError, match=says) as err:
        parse_assays((HEAD + row).encode(), "lab.csv")
    assert "lab.csv:2" in str(err.value) and "\x00" not in str(err.value) and "\r" not in str(err.value)


def test_a_value_quoted_back_is_bounded_and_escaped() -> None:
    with pytest.raises(InputError) as err:
        parse_assays((HEAD + "L1-1,black_mass\t" + "x" * 5000 + ",ni,30,final,B\n").encode(), "lab.csv")
    msg = str(err.value)
    assert len(msg) < 400 and "\\t" in msg and "more characters" in msg


RSS_PROBE = r"""
import resource, sys
from pathlib import Path
from monitor.collectors.lims import read_assay_file
from monitor.errors import InputError
for name in sys.argv[1:]:
    try:
        read_assay_file(Path(name))
    except InputError as exc:
        print(str(exc)[:200])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


def test_huge_files_cost_bounded_memory(tmp_path: Path) -> None:
    big = tmp_path / "big.csv"
    with big.open("wb") as fh:  # 2 GB, sparse: refused by its size before a byte is read
        fh.truncate(2 * 1024**3)
    blank = tmp_path / "blank.csv"
    blank.write_bytes(HEAD.encode() + b"\n" * (20 * 1024 * 1024 - len(HEAD) - 1))
    base = subprocess.run(
        [sys.executable, "-c", RSS_PROBE], capture_output=True, text=True, check=True, cwd=Path(__file__).parents[1]
    )
    out = subprocess.run(
        [sys.executable, "-c", RSS_PROBE, str(big), str(blank)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[1],
    )
    lines = out.stdout.splitlines()
    assert "2147483648 bytes, more than the 20971520 allowed" in lines[0]
    assert "no assay rows" in lines[1]
    grew_mb = int(lines[2]) - int(base.stdout.splitlines()[-1])
    assert grew_mb < 100, f"reading the files grew RSS by {grew_mb} MB"


def test_any_failure_rejects_the_file_and_store_failures_retry_with_backoff(tmp_path: Path) -> None:
    inbox = tmp_path / "lims"
    inbox.mkdir()
    for name in ("a-bug.csv", "b-store.csv", "c-unicode.csv"):
        (inbox / name).write_text(HEAD + ROW)
    now = [0.0]
    calls: list[str] = []

    def importer(p: Path) -> str:
        calls.append(p.name)
        if p.name == "a-bug.csv":
            raise ZeroDivisionError("a bug in the importer")
        if p.name == "c-unicode.csv":
            raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")
        raise StoreError("database is locked")

    box = Inbox(inbox, importer, retry_s=1.0, max_retry_s=8.0, clock=lambda: now[0])
    assert box.once() == []
    assert sorted(p.name for p in (inbox / "rejected").glob("*.csv")) == ["a-bug.csv", "c-unicode.csv"]
    assert "ZeroDivisionError" in (inbox / "rejected" / "a-bug.csv.reason.txt").read_text()
    assert (inbox / "b-store.csv").exists()
    tries = []
    for t in range(0, 200):
        now[0] = float(t)
        before = len(calls)
        box.once()
        if len(calls) > before:
            tries.append(t)
    # backoff 1, 2, 4, 8, 8, ... s after each failure, then rejected after 10 attempts
    assert tries == [1, 3, 7, 15, 23, 31, 39, 47, 55]
    assert (inbox / "rejected" / "b-store.csv").exists()
    assert "database is locked" in (inbox / "rejected" / "b-store.csv.reason.txt").read_text()


def test_a_balance_file_refuses_underscored_numbers() -> None:
    from monitor.accounting.balance_file import parse_balance  # noqa: PLC0415

    with pytest.raises(InputError, match="measured_kg"):
        parse_balance("stream,direction,measured_kg,rel_sigma\nfeed,in,1_000,0.01\nbm,out,500,0.01\n", "b.csv")


async def test_the_watch_survives_any_failure_and_keeps_importing(tmp_path: Path) -> None:
    import asyncio  # noqa: PLC0415

    from monitor.collectors.inbox import watch_inbox  # noqa: PLC0415

    inbox = tmp_path / "lims"
    inbox.mkdir()
    (inbox / "a-crash.csv").write_text(HEAD + ROW)
    imported: list[str] = []
    first, second = asyncio.Event(), asyncio.Event()

    def importer(p: Path) -> str:
        if p.name == "a-crash.csv":
            raise MemoryError("the importer blew up")
        return p.name

    def on_results(names: list[str]) -> None:
        imported.extend(names)
        if "b-bad-callback.csv" in names:
            first.set()
            raise RuntimeError("a bug in the callback")
        second.set()

    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(watch_inbox(inbox, importer, on_results, every_s=0.01))
        (inbox / "b-bad-callback.csv").write_text(HEAD + ROW)
        await asyncio.wait_for(first.wait(), 30)
        (inbox / "c-good.csv").write_text(HEAD + ROW)
        await asyncio.wait_for(second.wait(), 30)
        assert not task.done()
        task.cancel()
    assert imported == ["b-bad-callback.csv", "c-good.csv"]
    assert (inbox / "rejected" / "a-crash.csv").exists() and (inbox / "done" / "c-good.csv").exists()


def test_a_file_name_with_control_characters_never_reaches_a_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    inbox = tmp_path / "lims"
    inbox.mkdir()
    (inbox / "evil\n2026 ERROR forged line\x1b[31m.csv").write_text(HEAD + ROW)
    with caplog.at_level(logging.INFO):
        names = inbox_once(inbox, lambda p: p.name)
    assert len(names) == 1 and names[0].startswith("renamed-") and names[0].isprintable()
    assert "forged" not in caplog.text and "\x1b" not in caplog.text
    assert [p.name for p in (inbox / "done").iterdir()] == names
