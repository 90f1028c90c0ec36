"""The registry service (``ob registry serve``): one place a team's runners send their
packed results to, with a token and no database credentials, and people look at them.

It runs over the results history store (the same database and migrations; SQLite by
default, PostgreSQL for a team) and a data directory that holds the accepted archives'
run folders and the published tasks' files.

- :mod:`~openaiperf.registry_service.tokens`: access tokens (stored hashed) and scopes;
- :mod:`~openaiperf.registry_service.archive`: checking and unpacking an ``ob pack`` archive;
- :mod:`~openaiperf.registry_service.service`: submissions, published tasks, the queries of the pages;
- :mod:`~openaiperf.registry_service.app`: the HTTP API and the web pages (FastAPI);
- :mod:`~openaiperf.registry_service.commands`: ``ob registry serve`` and ``ob registry token``.

The client side (``ob submit``, ``ob fetch``, ``ob config``, ``ob task publish``) is
:mod:`openaiperf.registry_client`.
"""
