"""Alembic environment of the history store. The store runs the migrations itself
(:func:`openaiperf.history.store.migrate`) on a connection it passes in
``config.attributes["connection"]``; nothing here reads an ini file or sets up logging."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from openaiperf.history.models import VERSION_TABLE, Base

connection = context.config.attributes.get("connection")


def run(conn) -> None:  # type: ignore[no-untyped-def]
    context.configure(connection=conn, target_metadata=Base.metadata, version_table=VERSION_TABLE,
                      render_as_batch=conn.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    run(connection)
else:  # `alembic -x url=...` by hand, for maintainers writing a new revision
    url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("pass the database: alembic -x url=sqlite:////path/history.sqlite ...")
    with create_engine(url).begin() as conn:
        run(conn)
