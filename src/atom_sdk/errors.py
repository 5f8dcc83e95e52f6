"""The ``AtomError`` tree: every failure a user can cause is one of these.

Each message says what went wrong *and what to change*. The CLI prints ``str(err)`` on one
line and exits with code 2; the HTTP API maps ``http_status`` and ``code`` into a JSON body.
"""

from __future__ import annotations

import math
from typing import Any


class AtomError(Exception):
    """Base of every user-facing error."""

    code: str = "atom_error"
    http_status: int = 400

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message} ({hint})")


class ConfigError(AtomError):
    """A config key that does not exist, a wrong type or an out-of-range value."""

    code = "invalid_config"
    http_status = 422


class WorldNotFoundError(AtomError):
    code = "world_not_found"
    http_status = 404


class WorldParameterError(AtomError):
    """A physically unstable or meaningless world parameter (tau <= 0.5, Mach <= 1, ...)."""

    code = "invalid_world_parameter"
    http_status = 422


class InvalidActionError(AtomError):
    """An action that is NaN/Inf or has the wrong shape."""

    code = "invalid_action"
    http_status = 422


class ArtifactError(AtomError):
    """An output folder that exists, a path outside the workspace, a corrupt artifact."""

    code = "artifact_error"
    http_status = 409


class PathOutsideWorkspaceError(ArtifactError):
    code = "path_outside_workspace"
    http_status = 400


class DependencyMissingError(AtomError):
    """An optional extra (web, distributed) is needed but not installed."""

    code = "dependency_missing"
    http_status = 501


class ValidationFailedError(AtomError):
    """A check the user asked for (``--check``) did not pass."""

    code = "check_failed"
    http_status = 422


class DeviceUnavailableError(AtomError):
    """``--device gpu`` on a machine where JAX has no GPU backend."""

    code = "device_unavailable"
    http_status = 422


class ResourceLimitError(AtomError):
    """A request whose estimated memory exceeds what the machine has."""

    code = "resource_limit"
    http_status = 413


class Interrupted(BaseException):
    """Raised in the main thread by the CLI's SIGINT and SIGTERM handlers.

    A ``BaseException`` but not a ``KeyboardInterrupt``: every ``finally`` still runs, code that
    catches ``Exception`` cannot swallow it, and the CLI framework (which turns a
    ``KeyboardInterrupt`` into a silent exit code) lets it reach the error boundary.
    """

    def __init__(self, message: str = "interrupted", *, signal_number: int = 2) -> None:
        self.message = message
        self.signal_number = signal_number
        super().__init__(message)


class RunInterrupted(Interrupted):
    """Ctrl-C or SIGTERM during a run: says where the last checkpoint is and how to continue.

    The CLI turns it into exit 130 (SIGINT) or 143 (SIGTERM) and adds the resume command.
    """

    def __init__(self, message: str, *, signal_number: int = 2, resume_command: str | None = None) -> None:
        super().__init__(message, signal_number=signal_number)
        self.resume_command = resume_command


# ---------------------------------------------------------------------------- one-line validation messages
#: pydantic error types of a number's bounds: a NaN or infinite input (also the strings "nan", "inf") fails
#: them and pydantic then names the bound, though NaN breaks none; such an input is reported as not finite
_NUMBER_CHECKS = frozenset({"greater_than", "greater_than_equal", "less_than", "less_than_equal", "finite_number",
                            "multiple_of"})


def nonfinite_text(value: Any, error_type: str = "value_error") -> str | None:
    """``'nan'``, ``'inf'`` or ``'-inf'`` when ``value`` is a non-finite float (or, for a number-bound error,
    a string that reads as one); otherwise None."""
    if isinstance(value, float):
        number = value
    elif isinstance(value, str) and error_type in _NUMBER_CHECKS:
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return None if math.isfinite(number) else repr(number)


def nonfinite_problem(item: dict[str, Any]) -> str | None:
    """``must be a finite number, got nan`` when a pydantic error item's input is NaN or infinite (whatever
    bound pydantic names; not for an unknown key, whose problem is the key), else None."""
    kind = str(item.get("type", ""))
    bad = nonfinite_text(item.get("input"), kind)
    return None if bad is None or kind == "extra_forbidden" else f"must be a finite number, got {bad}"


def error_problem(item: dict[str, Any]) -> str:
    """What is wrong with one pydantic error item, as the one-line messages say it: ``must be a finite
    number, got nan`` for a NaN or infinity whatever bound pydantic names, else its message and the value
    (left out for a mapping, and when the message already says what it got)."""
    value, nonfinite = item.get("input"), nonfinite_problem(item)
    if nonfinite is not None:
        return nonfinite
    message = str(item.get("msg", "")).removeprefix("Value error, ")
    if isinstance(value, dict) or "got " in message:
        return message
    return f"{message} (got {value!r})"
