"""The `blackmass` command. The CLI prints; library code logs.

One module per command group (sim, data, plant, store, passport); this one builds the parser and
dispatches. The CLI sits on top: it may import every package below it.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

# Only what builds the parser is imported here and at the top of the command modules: polars, the
# store engines, the core, asyncio, the OPC-UA library, the HTTP server and the PDF stack load inside
# the command that uses them, so `--help` and `check-config` start in a tenth of a second and `replay`
# pays only for what it runs (its speed is measured against a bare read of the file, start-up included).
# tests/test_cli.py checks that --help and check-config load none of them.
from monitor.cli import plant, sim
from monitor.cli.data import add_data_commands, cmd_assays_import, cmd_reconcile, cmd_replay, cmd_report
from monitor.cli.exchange import add_pact_commands, cmd_pact
from monitor.cli.passport import add_commands as add_passport_commands
from monitor.cli.passport import cmd_passport, cmd_shipment
from monitor.cli.plant import add_plant_commands, print_batch
from monitor.cli.sim import add_sim_commands
from monitor.cli.store import add_store_commands, cmd_store, serve_store
from monitor.errors import MonitorError

__all__ = ["build_parser", "main", "print_batch"]


# Help for arguments whose command module gives none, by destination name (the same meaning everywhere).
FALLBACK_HELP = {
    "file": "the input file",
    "url": "OPC-UA endpoint, e.g. opc.tcp://plc-host:4840",
    "config": "plant config TOML",
    "format": "output format",
    "chemistry": "only lots of this chemistry (e.g. NMC811)",
    "batch": "only this lot id",
    "name": "name on the certificate",
    "depth": "how many folder levels below Objects to walk",
    "source": "store URL to copy from",
    "dest": "store URL to copy into (empty)",
    "store": "store URL (sqlite:///path or postgresql://user@host:port/db)",
    "out": "output file",
    "id": "the lot or shipment id",
    "data_dir": "the data directory (its blackmass.db is the store)",
}


class _Help(argparse.HelpFormatter):
    """Every option's help ends with its default when it has one and does not say it already."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        shown = action.default not in (None, False, argparse.SUPPRESS, [])
        if shown and action.option_strings and "default" not in text:
            text += " (default: %(default)s)"
        return text


def _with_help(action: argparse.Action) -> argparse.Action:
    """An argument its command gave no help gets the meaning of its name (FALLBACK_HELP)."""
    if not action.help:
        action.help = FALLBACK_HELP.get(action.dest, action.dest.replace("_", " "))
    return action


class _Parser(argparse.ArgumentParser):
    """Formats its help with _Help and completes what its arguments, its groups' and its subcommands'
    (parsers of this class too) leave out."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Help)
        super().__init__(*args, **kwargs)

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        return _with_help(super().add_argument(*args, **kwargs))

    def add_argument_group(self, *args: Any, **kwargs: Any) -> Any:
        return _Group(super().add_argument_group(*args, **kwargs))

    def add_mutually_exclusive_group(self, **kwargs: Any) -> Any:
        return _Group(super().add_mutually_exclusive_group(**kwargs))


class _Group:
    """An argument group of a _Parser: its arguments' help is completed the same way."""

    def __init__(self, group: Any) -> None:
        self.group = group

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        return _with_help(self.group.add_argument(*args, **kwargs))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.group, name)


SIM_COMMANDS = ("demo", "simulate")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; `command`, the one about to run, spares loading what only other commands list
    (the simulator's faults; None: build everything)."""
    ap = _Parser(prog="blackmass", description="Black-mass plant monitor and metal accounting")
    ap.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    ap.add_argument("--version", action=_Version, help="show program's version number and exit")
    sub = ap.add_subparsers(dest="cmd", required=True)
    add_sim_commands(sub, faults=command is None or command in SIM_COMMANDS)
    add_data_commands(sub)
    add_plant_commands(sub)
    add_store_commands(sub)
    add_passport_commands(sub)
    add_pact_commands(sub)
    return ap


def _version() -> str:
    from importlib import metadata  # noqa: PLC0415 - 20 ms of every start, for one flag

    try:
        return metadata.version("blackmass-monitor")
    except metadata.PackageNotFoundError:  # a checkout run without installing
        return "unknown (not installed)"


class _Version(argparse.Action):
    """--version as argparse's own prints it, the installed version looked up only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(option_strings, dest=dest, default=argparse.SUPPRESS, nargs=0, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        print(f"{parser.prog} {_version()}")
        parser.exit()


def main(argv: Sequence[str] | None = None) -> int:
    """The command; a reader that closes the pipe early (`| head`) ends it quietly."""
    try:
        return _main(argv)
    except BrokenPipeError:
        # stdout is gone: point it at /dev/null so the interpreter's final flush does not complain
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, as a shell reports it


def _main(argv: Sequence[str] | None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    a = build_parser(next((t for t in args if not t.startswith("-")), "")).parse_args(args)
    os.umask(os.umask(0o027) | 0o027)  # data, checkpoints, reasons: never readable by others (0640 at most)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(a.verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("asyncua").setLevel(max(level, logging.ERROR if a.verbose < 2 else logging.DEBUG))  # noqa: PLR2004 - -vv
    try:
        once = {  # commands that do their work and return: no event loop
            "report": cmd_report,
            "check-config": plant.cmd_check_config,
            "assays": cmd_assays_import,
            "reconcile": cmd_reconcile,
            "certs": plant.cmd_certs,
            "replay": cmd_replay,
            "passport": cmd_passport,
            "shipment": cmd_shipment,
            "pact": cmd_pact,
            "store": cmd_store,
        }
        if a.cmd in once:
            return once[a.cmd](a)
        if a.cmd == "simulate" and a.export_history is not None:
            return sim.cmd_export_history(a)
        runner = {
            "demo": sim.demo,
            "simulate": sim.simulate,
            "run": plant.run,
            "browse": plant.browse,
            "serve": serve_store,
        }[a.cmd]
        from asyncio import run as asyncio_run  # noqa: PLC0415 - start-up: only the servers need the loop

        from monitor.cli.stopping import until_stopped  # noqa: PLC0415 - it loads asyncio

        with contextlib.suppress(KeyboardInterrupt):  # SIGINT and SIGTERM: the command's cleanups run
            return asyncio_run(until_stopped(runner(a)))
        return 130
    except MonitorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
