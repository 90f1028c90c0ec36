"""The load generator: when requests are sent, and an honest account of it.

- :mod:`~openaiperf.loadgen.arrivals`: arrival schedules (Poisson, or gamma gaps
  with a burstiness parameter), from a seeded numpy generator;
- :mod:`~openaiperf.loadgen.dispatcher`: an asyncio dispatcher that sends each
  request at its scheduled time (open loop) or as soon as a stream is free
  (closed loop), records the scheduled and the actual send time, and measures
  latency from the scheduled time so a late send counts against the system
  (no coordinated omission);
- :mod:`~openaiperf.loadgen.slo`: SLA bounds, goodput and validity.
"""
