"""``ob registry``: run the registry service and manage its tokens.

    ob registry serve [--host 127.0.0.1] [--port 8765] [--history URL] [--data-dir DIR]
                      [--max-archive-mb 256] [--public-read]
    ob registry token create --scopes read,submit [--name NAME] [--history URL]
    ob registry token revoke ID [--history URL]
    ob registry token list [--history URL]

The token commands work on the store directly (whoever can reach the database is the
administrator); ``POST /api/v1/tokens`` does the same over HTTP with an ``admin`` token.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from openaiperf.cli import help_of
from openaiperf.errors import ConfigError
from openaiperf.history.commands import _store as history_store
from openaiperf.registry_service import tokens
from openaiperf.registry_service.service import RegistryService

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_MAX_ARCHIVE_MB = 256.0


def default_data_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("openaiperf", appauthor=False)) / "registry"


def _store(args: argparse.Namespace) -> Any:
    return history_store(args)


def _missing_extra(exc: ImportError) -> ConfigError:
    return ConfigError(f"{exc}; install the registry extra: pip install 'openaiperf[registry]'",
                       source="ob registry serve")


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from openaiperf.registry_service.app import create_app
    except ImportError as exc:
        raise _missing_extra(exc) from None

    if args.max_archive_mb <= 0:
        raise ConfigError(f"expected a positive size in MB, got {args.max_archive_mb}", source="--max-archive-mb")
    store = _store(args).open()
    data_dir = Path(args.data_dir).expanduser() if args.data_dir else default_data_dir()
    service = RegistryService(store, data_dir, max_archive_bytes=int(args.max_archive_mb * (1 << 20)))
    app = create_app(service, public_read=args.public_read)
    print(f"registry: http://{args.host}:{args.port}/ (API docs: /docs), history {store.shown_url}, "
          f"data {service.data_dir}" + (", pages readable without a token" if args.public_read else ""), flush=True)
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=args.access_log)
    finally:
        store.close()
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    from sqlalchemy.orm import Session

    scopes = tokens.parse_scopes(args.scopes)
    with _store(args) as store, Session(store.engine) as session:
        info, token = tokens.create(session, args.name, scopes)
    print(f"token {info.id} ({info.name}), scopes {','.join(info.scopes)}; it is shown this once, keep it secret:")
    print(token)
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    from sqlalchemy.orm import Session

    with _store(args) as store, Session(store.engine) as session:
        info = tokens.revoke(session, args.token_id)
    if info is None:
        raise ConfigError(f"no token {args.token_id} (ob registry token list shows them)", source="ob registry token")
    print(f"token {info.id} ({info.name}) revoked")
    return 0


def cmd_token_list(args: argparse.Namespace) -> int:
    from sqlalchemy.orm import Session

    with _store(args) as store, Session(store.engine) as session:
        rows = tokens.listing(session)
    for info, created in rows:
        state = "revoked" if info.revoked else "active"
        print(f"{info.id:>4}  {state:<8} {','.join(info.scopes):<28} {created:%Y-%m-%d %H:%M}  {info.name}")
    if not rows:
        print("no tokens yet: ob registry token create --scopes admin")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    store = argparse.ArgumentParser(add_help=False)
    store.add_argument("--history", default=argparse.SUPPRESS, metavar="URL",
                       help="the results history store the registry runs over (default: $OPENAIPERF_HISTORY, "
                            "else history.sqlite under the user data directory)")
    registry = subparsers.add_parser("registry", parents=[store],
                                     help="the registry service: submitted results, published tasks, web pages")
    registry.set_defaults(func=help_of(registry))
    commands = registry.add_subparsers(dest="registry_command", metavar="SUBCOMMAND")

    serve = commands.add_parser("serve", parents=[store], help="run the service (HTTP API and web pages)")
    serve.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    serve.add_argument("--data-dir", default=None, metavar="DIR",
                       help="where the submitted run folders and the published task files are kept "
                            f"(default: {default_data_dir()})")
    serve.add_argument("--max-archive-mb", type=float, default=DEFAULT_MAX_ARCHIVE_MB, metavar="MB",
                       help=f"largest archive accepted (default {DEFAULT_MAX_ARCHIVE_MB:g})")
    serve.add_argument("--public-read", action="store_true",
                       help="pages and read API without a token (a trusted network); writes still need one")
    serve.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    serve.add_argument("--no-access-log", dest="access_log", action="store_false",
                       help="leave out one log line per request")
    serve.set_defaults(func=cmd_serve)

    token = commands.add_parser("token", parents=[store], help="create, revoke and list access tokens")
    token.set_defaults(func=help_of(token))
    token_commands = token.add_subparsers(dest="token_command", metavar="ACTION")
    create = token_commands.add_parser("create", parents=[store], help="a new token, printed once")
    create.add_argument("--scopes", required=True, metavar="S,S",
                        help="comma-separated: read (pages, listings, task downloads), submit (results), "
                             "publish (tasks), admin (tokens; implies the others)")
    create.add_argument("--name", default="token", help="a label for people, e.g. the runner's name")
    create.set_defaults(func=cmd_token_create)
    revoke = token_commands.add_parser("revoke", parents=[store], help="revoke a token by its id")
    revoke.add_argument("token_id", type=int, metavar="ID")
    revoke.set_defaults(func=cmd_token_revoke)
    listing = token_commands.add_parser("list", parents=[store], help="the tokens (never the tokens themselves)")
    listing.set_defaults(func=cmd_token_list)
