"""The registry's client side: ``ob config``, ``ob submit``, ``ob fetch`` and ``ob task publish``.

- :mod:`~openaiperf.registry_client.settings`: which registry and token (``--registry``,
  ``$OPENAIPERF_REGISTRY_URL``/``$OPENAIPERF_TOKEN``, ``~/.openaiperf/config.yaml``);
- :mod:`~openaiperf.registry_client.client`: the HTTP calls, with retries and clear refusals;
- :mod:`~openaiperf.registry_client.commands`: the commands.
"""
