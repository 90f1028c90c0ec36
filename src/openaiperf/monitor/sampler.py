"""The base class of resource samplers (re-exported as :class:`openaiperf.monitor.Sampler`)."""

from __future__ import annotations

from typing import Any, ClassVar

from openaiperf.registry import Requirement


class Sampler:
    """Base class of samplers."""

    name: ClassVar[str] = ""
    #: the ``--metrics`` group that starts it
    group: ClassVar[str] = "gpu"
    requires: ClassVar[tuple[Requirement, ...]] = ()

    @classmethod
    def create(cls) -> Sampler:
        """A started sampler; raises :class:`SamplerUnavailable` (with why) when it cannot run here."""
        return cls()

    def sample(self) -> dict[str, float]:
        """One reading: column name -> value."""
        raise NotImplementedError

    def summarize(self, rows: list[dict[str, float]]) -> dict[str, Any]:
        """Summary of the readings (peaks, means, energy); rows carry ``t`` (s)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the library (NVML shutdown...)."""
