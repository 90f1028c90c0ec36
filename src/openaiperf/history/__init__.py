"""The results history: every benchmark run in a database, for trends across
commits and engine versions.

At the end of a run the plugin calls :func:`record_session_run` (the run folder,
the repository root, ``--history``/``--no-history``): it writes the run into the store (SQLite
under the user data directory by default, PostgreSQL for a team) and returns the
trends of the run's cases for the reports. It never raises: a store that cannot
be written is a warning and a note in the run folder.

- :mod:`~openaiperf.history.location`: which store (``--history``, ``$OPENAIPERF_HISTORY``, default file);
- :mod:`~openaiperf.history.models` and ``migrations/``: the tables and their versioned schema (Alembic);
- :mod:`~openaiperf.history.store`: :class:`HistoryStore` (record, list, query, export);
- :mod:`~openaiperf.history.trends`: a run's values against its cases' recent history;
- :mod:`~openaiperf.history.plot`: the figures; :mod:`~openaiperf.history.commands`: ``ob history``.

Nothing heavy is imported here: the plugin imports this package at every session end.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from openaiperf.history.session import HistoryOutcome


def record_session_run(run_dir: Path, root: Path, **kwargs: Any) -> HistoryOutcome:
    """See :func:`openaiperf.history.session.record_session_run`."""
    from openaiperf.history.session import record_session_run as record  # SQLAlchemy: kept out of start-up

    return record(run_dir, root, **kwargs)
