"""The exception tree. Every error says where, what was expected, what arrived, and a hint."""

from __future__ import annotations


class MonitorError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(MonitorError):
    """A configuration file is missing, unreadable or invalid."""

    def __init__(self, where: str, field: str, expected: str, got: object, hint: str = "") -> None:
        self.where, self.field, self.expected, self.got, self.hint = where, field, expected, got, hint
        msg = f"{where}: field '{field}': expected {expected}, got {got!r}"
        super().__init__(msg + (f" (hint: {hint})" if hint else ""))


class InputError(MonitorError):
    """A data file or request was refused; nothing was changed."""

    def __init__(self, where: str, problem: str, hint: str = "") -> None:
        self.where, self.problem, self.hint = where, problem, hint
        super().__init__(f"{where}: {problem}" + (f" (hint: {hint})" if hint else ""))


class NotFoundError(InputError):
    """What a command or request names is not there (a lot, a shipment); over HTTP a 404."""


class CollectorError(MonitorError):
    """A collector could not reach or read its source."""


class StoreError(MonitorError):
    """The batch store could not be opened or written."""
