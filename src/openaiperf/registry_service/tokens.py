"""Access tokens of the registry service.

A token is ``obt_`` and 43 URL-safe characters (32 random bytes); the store keeps only its
sha256, so a token is shown once, when it is created, and a stolen database holds none.
Each token has scopes: ``read`` (pages, run and task listings, task downloads),
``submit`` (results), ``publish`` (task definitions), ``admin`` (tokens; implies the others).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from openaiperf.errors import ConfigError
from openaiperf.history.models import RegistryTokenRow

SCOPES = ("read", "submit", "publish", "admin")
PREFIX = "obt_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def parse_scopes(text: str | Iterable[str], *, source: str = "--scopes") -> list[str]:
    """Scopes from ``read,submit`` (or a list): known, deduplicated, in :data:`SCOPES` order."""
    given = [s.strip() for s in (text.split(",") if isinstance(text, str) else text) if s.strip()]
    unknown = sorted(set(given) - set(SCOPES))
    if unknown or not given:
        raise ConfigError(f"unknown or missing scope(s) {', '.join(unknown) or '(none)'}; "
                          f"accepted: {', '.join(SCOPES)}", source=source)
    return [s for s in SCOPES if s in given]


@dataclass(frozen=True)
class TokenInfo:
    """A token as the service sees it: never the token itself."""

    id: int
    name: str
    scopes: tuple[str, ...]
    revoked: bool

    def allows(self, scope: str) -> bool:
        return not self.revoked and (scope in self.scopes or "admin" in self.scopes)


def _info(row: RegistryTokenRow) -> TokenInfo:
    return TokenInfo(id=row.id, name=row.name, scopes=tuple(row.scopes.split(",")), revoked=row.revoked is not None)


def create(session: Session, name: str, scopes: Iterable[str], created_by: int | None = None) -> tuple[TokenInfo, str]:
    """A new token (committed): its info and the token, which is not kept anywhere."""
    token = new_token()
    row = RegistryTokenRow(token_sha256=hash_token(token), name=name, scopes=",".join(parse_scopes(scopes)),
                           created=_dt.datetime.now(_dt.timezone.utc), created_by=created_by)
    session.add(row)
    session.commit()
    return _info(row), token


def revoke(session: Session, token_id: int, revoked_by: int | None = None) -> TokenInfo | None:
    """Revoke token ``token_id`` (committed); None when there is no such token."""
    row = session.get(RegistryTokenRow, token_id)
    if row is None:
        return None
    if row.revoked is None:
        row.revoked, row.revoked_by = _dt.datetime.now(_dt.timezone.utc), revoked_by
        session.commit()
    return _info(row)


def lookup(session: Session, token: str) -> TokenInfo | None:
    """The token's info (revoked ones included, so the answer can say so); None: unknown."""
    row = session.scalar(select(RegistryTokenRow).where(RegistryTokenRow.token_sha256 == hash_token(token)))
    return _info(row) if row is not None else None


def listing(session: Session) -> list[tuple[TokenInfo, _dt.datetime]]:
    rows = session.scalars(select(RegistryTokenRow).order_by(RegistryTokenRow.id)).all()
    return [(_info(r), r.created) for r in rows]
