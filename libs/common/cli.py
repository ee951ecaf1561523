"""`mindlake` command line: migrations and API keys, plus the commands services add.

A service adds commands through the entry-point group `mindlake.commands` (pyproject.toml):
`name = "services.<svc>.cli:app"` (a Typer app, added as `mindlake <name>`) or a plain
function (added as a command). They are loaded by name, so libs/common imports no service.
"""

from __future__ import annotations

import asyncio
import sys
from importlib.metadata import entry_points
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from libs.common import auth
from libs.common.db import one_shot_engine, session_maker
from libs.common.errors import ServiceError

app = typer.Typer(help="MindLake administration.", no_args_is_help=True)
keys = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True)
app.add_typer(keys, name="keys")
console = Console()


@app.command()
def migrate() -> None:
    """Apply every schema's migrations (libs/common first, then each service)."""
    from libs.common.migrate import upgrade_all

    for name in upgrade_all():
        console.print(f"[green]migrated[/green] {name}")


@keys.command("create")
def create(
    name: Annotated[str, typer.Option(help="Who uses the key, e.g. 'journal-service prod'")],
    scope: Annotated[list[str], typer.Option(help=f"Repeatable: {', '.join(auth.Scope.ALL)}")],
    service: Annotated[
        list[str] | None,
        typer.Option(help="Repeatable: source services an ingest key may write for (default *)"),
    ] = None,
    tenant: Annotated[
        list[str] | None,
        typer.Option(
            help="Repeatable: tenants an ingest key may upload CSV for and read uploads of"
            " (default *)"
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option(help="Print only the key")] = False,
) -> None:
    """Create a key. The key is printed once; only its hash is stored."""

    async def run() -> tuple[auth.ApiKeyRow, str]:
        engine = one_shot_engine()
        async with session_maker(engine)() as session:
            row, key = await auth.create_key(
                session,
                name=name,
                scopes=scope,
                services=service or ["*"],
                tenants=tenant or ["*"],
            )
            await session.commit()
        await engine.dispose()
        return row, key

    try:
        row, key = asyncio.run(run())
    except ServiceError as exc:
        console.print(f"[red]error:[/red] {exc.detail}")
        raise typer.Exit(2) from exc
    if quiet:
        print(key)  # noqa: T201 - the one place the key is shown
        return
    console.print(f"key id   {row.key_id}\nscopes   {', '.join(row.scopes)}")
    console.print(f"services {', '.join(row.services)}")
    console.print(f"tenants  {', '.join(row.tenants)}")
    console.print(f"key      [bold]{key}[/bold]  (shown once; store it now)")


@keys.command("list")
def list_() -> None:
    """List keys (never their secrets)."""

    async def run() -> list[auth.ApiKeyRow]:
        engine = one_shot_engine()
        async with session_maker(engine)() as session:
            rows = await auth.list_keys(session)
        await engine.dispose()
        return rows

    table = Table("key id", "name", "scopes", "services", "tenants", "created", "revoked")
    for row in asyncio.run(run()):
        table.add_row(
            row.key_id,
            row.name,
            ", ".join(row.scopes),
            ", ".join(row.services),
            ", ".join(row.tenants),
            f"{row.created_at:%Y-%m-%d %H:%M}",
            f"{row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "",
        )
    console.print(table)


@keys.command("revoke")
def revoke(key_id: str) -> None:
    """Revoke a key by id; it stops working within the verifier's cache TTL (10 s)."""

    async def run() -> None:
        engine = one_shot_engine()
        async with session_maker(engine)() as session:
            await auth.revoke_key(session, key_id)
            await session.commit()
        await engine.dispose()

    try:
        asyncio.run(run())
    except ServiceError as exc:
        console.print(f"[red]error:[/red] {exc.detail}")
        raise typer.Exit(1) from exc
    console.print(f"revoked {key_id}")


ENTRY_POINT_GROUP = "mindlake.commands"


def load_extra_commands(target: typer.Typer) -> list[str]:
    """Add every command registered under `mindlake.commands`; a broken one is skipped with
    a warning so the core commands (migrate, keys) keep working."""
    added = []
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            found = ep.load()
        except Exception as exc:  # an optional extra not installed, a syntax error...
            print(  # noqa: T201 - stderr, before the console is of any use
                f"mindlake: command {ep.name!r} unavailable ({type(exc).__name__}: {exc})",
                file=sys.stderr,
            )
            continue
        if isinstance(found, typer.Typer):
            target.add_typer(found, name=ep.name)
        else:
            target.command(name=ep.name)(found)
        added.append(ep.name)
    return added


load_extra_commands(app)


if __name__ == "__main__":
    app()
