"""``python -m openaiperf.testing.scripted_server``: run the scripted server."""

from __future__ import annotations

from openaiperf.testing.scripted_server.cli import main

main()
