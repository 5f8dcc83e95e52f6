"""``atom serve``, ``atom keys create/list/revoke`` and ``atom openapi export``: the platform's CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from atom_sdk.cli.common import console, print_json

keys_app = typer.Typer(help="Manage API keys of the platform (stored hashed with a salt).", no_args_is_help=True)
openapi_app = typer.Typer(help="Export the HTTP API's OpenAPI schema.", no_args_is_help=True)


def _settings(workspace: Optional[str], database_url: Optional[str], **extra: object):  # type: ignore[no-untyped-def]
    from atom_sdk.errors import DependencyMissingError

    try:
        from atom_sdk.platform.settings import PlatformSettings
    except ImportError as exc:  # pragma: no cover - the web extra is missing
        raise DependencyMissingError(f"the platform needs the web extra ({exc}); pip install 'atom-oss-sdk[web]'") from None
    values = {k: v for k, v in extra.items() if v is not None}
    if workspace:
        values["workspace"] = Path(workspace)
    if database_url:
        values["database_url"] = database_url
    return PlatformSettings(**values)


WORKSPACE = typer.Option(None, "--workspace", help="Folder for the database and job outputs (default .atom or "
                                                   "$ATOM_WORKSPACE).")
DATABASE = typer.Option(None, "--database-url", help="SQLAlchemy URL (default SQLite in the workspace, or "
                                                     "$ATOM_DATABASE_URL).")


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on; non-loopback requires API keys."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port (1-65535)."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Job worker processes (default 2 or $ATOM_WORKERS)."),
    workspace: Optional[str] = WORKSPACE,
    database_url: Optional[str] = DATABASE,
    resume_interrupted: bool = typer.Option(False, "--resume-interrupted",
                                            help="Queue jobs a previous server left running again (runs resume "
                                                 "from their checkpoint)."),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
    web_workers: int = typer.Option(1, "--web-workers", min=1, max=64,
                                    help="Web processes sharing the port (1-64); one of them runs the job workers."),
) -> None:
    """Start the HTTP API and web UI (http://HOST:PORT/, docs at /docs)."""
    import uvicorn

    from atom_sdk.platform.api import create_app

    settings = _settings(workspace, database_url, host=host, workers=workers, resume_interrupted=resume_interrupted)
    if not settings.loopback:
        from atom_sdk.platform.security import list_keys
        from atom_sdk.platform.store import Store

        store = Store(settings.db_url)
        store.create_all()
        if not any(not k["revoked"] for k in list_keys(store)):
            console.print("[yellow]warning:[/] listening on a non-loopback address with no API key: every change "
                          "will be refused until you run 'atom keys create --name NAME'")
        store.dispose()
    console.print(f"ATOM platform on http://{host}:{port}/  (API docs: /docs, workspace: {settings.workspace})")
    if web_workers == 1:  # the leader lock also keeps a second server of this workspace off the first one's jobs
        uvicorn.run(create_app(settings, elect_leader=True), host=host, port=port, log_level=log_level)
        return
    import os

    from atom_sdk.platform.api import SETTINGS_ENV

    # uvicorn starts each web process from an import string; the settings travel in the environment.
    os.environ[SETTINGS_ENV] = settings.model_dump_json()
    uvicorn.run("atom_sdk.platform.api:app_from_env", factory=True, workers=web_workers, host=host, port=port,
                log_level=log_level)


@keys_app.command("create")
def keys_create(name: str = typer.Option(..., "--name", help="Who or what the key is for."),
                workspace: Optional[str] = WORKSPACE, database_url: Optional[str] = DATABASE,
                as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Create an API key; it is printed once and stored only as a salted hash."""
    from atom_sdk.platform.security import create_key
    from atom_sdk.platform.store import Store

    store = Store(_settings(workspace, database_url).db_url)
    store.create_all()
    key, record = create_key(store, name)
    if as_json:
        print_json({**record, "key": key})
    else:
        console.print(f"key id {record['key_id']} ({name}); store this key now, it is not shown again:")
        typer.echo(key)


@keys_app.command("list")
def keys_list(workspace: Optional[str] = WORKSPACE, database_url: Optional[str] = DATABASE,
              as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List API keys (ids and names; the keys themselves are never stored)."""
    from atom_sdk.platform.security import list_keys
    from atom_sdk.platform.store import Store

    store = Store(_settings(workspace, database_url).db_url)
    store.create_all()
    rows = list_keys(store)
    if as_json:
        print_json([{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()} for r in rows])
        return
    from rich.table import Table

    table = Table(title="API keys")
    for col in ("key id", "name", "created", "last used", "state"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["key_id"], r["name"], str(r["created_at"])[:19], str(r["last_used_at"] or "-")[:19],
                      "revoked" if r["revoked"] else "active")
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: str = typer.Argument(..., help="Key id shown by 'atom keys list'."),
                workspace: Optional[str] = WORKSPACE, database_url: Optional[str] = DATABASE) -> None:
    """Revoke a key: requests with it are refused from now on."""
    from atom_sdk.errors import AtomError
    from atom_sdk.platform.security import revoke_key
    from atom_sdk.platform.store import Store

    store = Store(_settings(workspace, database_url).db_url)
    store.create_all()
    if not revoke_key(store, key_id):
        raise AtomError(f"no active key with id '{key_id}'; see 'atom keys list'")
    console.print(f"revoked {key_id}")


@openapi_app.command("export")
def openapi_export(output: str = typer.Option("docs/openapi.json", "--output", "-o", help="File to write ('-' for "
                                                                                           "stdout).")) -> None:
    """Write the live OpenAPI schema (what docs/openapi.json must equal)."""
    from atom_sdk.platform.openapi import OPENAPI_REPORT, export_openapi
    from atom_sdk.workspace import output_file

    if output != "-":
        output_file(output, "--output", OPENAPI_REPORT)  # only this platform's OpenAPI document is replaced
    text = export_openapi()
    if output == "-":
        typer.echo(text, nl=False)
        return
    from atom_sdk.artifacts import atomic_write_text

    atomic_write_text(output, text)
    console.print(f"wrote {output}")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.add_typer(keys_app, name="keys")
    app.add_typer(openapi_app, name="openapi")
