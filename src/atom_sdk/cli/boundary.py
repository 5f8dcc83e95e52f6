"""The one error boundary of the ``atom`` command: every failure becomes one line and an exit code.

Why: a researcher reads a traceback as "the tool is broken" even when the cause is a typo or a
full disk. Each failure a user can cause or meet is named here with what to do about it; the
traceback is kept only with ``--debug``.

Exit codes (also in the README):

====  ==========================================================================
0     success
1     a check that was asked for failed (``--check``, ``worlds validate``, a gate), or an
      unexpected internal error (run with ``--debug`` and report it)
2     usage or input error: an unknown option or key, a bad value, a name or path refused,
      an existing output without ``--overwrite``, ``--device gpu`` without a GPU
3     the environment failed: disk full, permission denied, out of memory
130   interrupted with Ctrl-C (SIGINT); the checkpoint is kept and the resume command printed
143   stopped with SIGTERM; the same as 130
====  ==========================================================================
"""

from __future__ import annotations

import errno
import signal
import sys
import traceback
from typing import Any, Callable

from atom_sdk.cli.common import err_console
from atom_sdk.errors import AtomError, Interrupted

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_ENVIRONMENT = 0, 1, 2, 3
EXIT_SIGINT, EXIT_SIGTERM = 130, 143

_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_DENIED = {errno.EACCES, errno.EPERM, errno.EROFS}


def _say(message: str) -> None:
    from rich.markup import escape

    err_console.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False, soft_wrap=True)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _where(exc: OSError) -> str:
    name = exc.filename or exc.filename2
    return f" while writing '{name}'" if name else ""


def describe_os_error(exc: OSError) -> str | None:
    """One line with the cause and what to do, for the OS errors a user can meet (else None)."""
    if exc.errno in _DISK_FULL:
        return (f"no space left on the device{_where(exc)}; free some space or choose another --output-root. "
                "Files written before are intact (every artifact is written atomically) and an interrupted run "
                "continues with --resume")
    if exc.errno in _DENIED:
        target = exc.filename or "the output folder"
        return (f"permission denied for '{target}' ({exc.strerror}); choose a folder you can write to "
                "(--output-root / --out) or fix its permissions")
    return None


def is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    text = str(exc)
    return type(exc).__name__ in {"XlaRuntimeError", "JaxRuntimeError"} and (
        "RESOURCE_EXHAUSTED" in text or "out of memory" in text.lower())


def _signal_handler(signum: int, _frame: Any) -> None:
    raise Interrupted("interrupted" if signum == signal.SIGINT else "stopped by SIGTERM", signal_number=signum)


def _interrupt_message(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or "interrupted; artifacts written so far are kept (each is written atomically)"
    resume = getattr(exc, "resume_command", None)
    return f"{message}; continue with: {resume}" if resume else message


def _interrupted(exc: BaseException, debug: bool) -> int:
    if debug:
        traceback.print_exception(exc)
    signum = int(getattr(exc, "signal_number", signal.SIGINT))
    err_console.print(_one_line(_interrupt_message(exc)), markup=False, highlight=False, soft_wrap=True)
    return EXIT_SIGTERM if signum == signal.SIGTERM else EXIT_SIGINT


def run_with_boundary(call: Callable[[], Any], *, debug: bool = False, argv: list[str] | None = None) -> int:
    """Run ``call`` (the click command) and map every outcome to an exit code."""
    from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
    import typer

    previous: dict[int, Any] = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        current = signal.getsignal(signum)
        if current is signal.SIG_IGN:  # started ignoring it (a background job): keep that
            continue
        try:
            signal.signal(signum, _signal_handler)
            previous[signum] = current
        except ValueError:  # not the main thread (main() called from a thread)
            break
    try:
        rv = call()
        return rv if isinstance(rv, int) else EXIT_OK
    except typer.Exit as exc:
        cause = exc.__cause__
        if isinstance(cause, KeyboardInterrupt):  # typer turns Ctrl-C into Exit(130); keep what it said
            return _interrupted(cause, debug)
        return int(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        return EXIT_SIGINT
    except NoArgsIsHelpError as exc:
        exc.show()
        return EXIT_USAGE
    except UsageError as exc:
        if debug:
            traceback.print_exc()
        command = exc.ctx.command_path if exc.ctx is not None else "atom"
        _say(f"{_one_line(exc.format_message())} (see '{command} --help')")
        return EXIT_USAGE
    except ClickException as exc:
        if debug:
            traceback.print_exc()
        _say(_one_line(exc.format_message()))
        return exc.exit_code
    except AtomError as exc:
        if debug:
            traceback.print_exc()
        _say(_one_line(str(exc)))
        return EXIT_USAGE
    except (KeyboardInterrupt, Interrupted) as exc:
        return _interrupted(exc, debug)
    except OSError as exc:
        if debug:
            traceback.print_exc()
        text = describe_os_error(exc)
        if text is None:
            _say(f"{_one_line(str(exc))}; run again with --debug for the traceback")
            return EXIT_ENVIRONMENT
        _say(text)
        return EXIT_ENVIRONMENT
    except Exception as exc:  # noqa: BLE001 - the boundary: nothing may escape as a traceback
        if debug:
            traceback.print_exc()
        if is_out_of_memory(exc):
            first = _one_line(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)[:200]
            _say(f"out of memory ({first}); use a smaller --grid or agent.rollout_length, or fewer parallel "
                 "workers. Artifacts written before are intact; a run continues with --resume")
            return EXIT_ENVIRONMENT
        _say(f"unexpected {type(exc).__name__}: {_one_line(str(exc))[:300]}; run again with --debug for the "
             "traceback and report it")
        return EXIT_FAILED
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        sys.stdout.flush()
