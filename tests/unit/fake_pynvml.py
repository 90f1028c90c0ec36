"""A FAKE of the nvidia-ml-py (``pynvml``) library's API, for testing our NVML
sampler's logic on machines without a GPU. It fakes the library, not our code:
the names, units and error types mirror pynvml (power in mW, energy in mJ,
NVMLError carrying ``.value``)."""

from __future__ import annotations

from dataclasses import dataclass

NVML_CLOCK_SM = 1
NVML_CLOCK_MEM = 2
NVML_TEMPERATURE_GPU = 0
NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_GPU_IS_LOST = 15


@dataclass(frozen=True)
class Utilization:
    """pynvml's ``c_nvmlUtilization_t`` (percent)."""

    gpu: int
    memory: int


@dataclass(frozen=True)
class Memory:
    """pynvml's ``c_nvmlMemory_t`` (bytes)."""

    used: int
    total: int


class NVMLError(Exception):
    def __init__(self, value: int) -> None:
        super().__init__(f"NVML error {value}")
        self.value = value


class FakeNvml:
    """A module-like object: ``gpus`` devices whose energy counter grows by
    ``power_mw`` × elapsed fake time; knobs to refuse readings or lose a GPU."""

    NVMLError = NVMLError
    NVML_CLOCK_SM = NVML_CLOCK_SM
    NVML_CLOCK_MEM = NVML_CLOCK_MEM
    NVML_TEMPERATURE_GPU = NVML_TEMPERATURE_GPU
    NVML_ERROR_UNINITIALIZED = NVML_ERROR_UNINITIALIZED
    NVML_ERROR_GPU_IS_LOST = NVML_ERROR_GPU_IS_LOST

    def __init__(self, gpus: int = 2, *, init_error: int | None = None, no_energy: bool = False,
                 no_power_permission: bool = False, power_limits_mw: tuple[int, ...] = ()) -> None:
        self.gpus = gpus
        self.power_limits_mw = power_limits_mw or (700_000,) * gpus
        self.init_error = init_error
        self.no_energy = no_energy
        self.no_power_permission = no_power_permission
        self.lost: set[int] = set()
        self.energy_mj = [1_000_000.0] * gpus
        self.power_mw = [300_000.0 + 50_000.0 * i for i in range(gpus)]
        self.calls: dict[str, int] = {}
        self.shutdown = False

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    def advance(self, seconds: float) -> None:
        for i in range(self.gpus):
            self.energy_mj[i] += self.power_mw[i] * seconds  # mW × s = mJ

    def _check(self, handle: int) -> None:
        if handle in self.lost:
            raise NVMLError(NVML_ERROR_GPU_IS_LOST)

    def nvmlInit(self) -> None:
        if self.init_error is not None:
            raise NVMLError(self.init_error)

    def nvmlShutdown(self) -> None:
        self.shutdown = True

    def nvmlDeviceGetCount(self) -> int:
        return self.gpus

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlSystemGetDriverVersion(self) -> str:
        return "550.54"

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        return 12040

    def nvmlDeviceGetName(self, handle: int) -> str:
        return "NVIDIA H100 80GB HBM3"

    def nvmlDeviceGetPowerManagementLimit(self, handle: int) -> int:
        return self.power_limits_mw[handle]

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> Utilization:
        self._check(handle)
        return Utilization(gpu=80 + handle, memory=40)

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> Memory:
        self._check(handle)
        return Memory(used=(10 + handle) * 2**30, total=80 * 2**30)

    def nvmlDeviceGetPowerUsage(self, handle: int) -> float:
        self._check(handle)
        self._count("power")
        if self.no_power_permission:
            raise NVMLError(NVML_ERROR_NO_PERMISSION)
        return self.power_mw[handle]

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: int) -> float:
        self._check(handle)
        self._count("energy")
        if self.no_energy:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        return self.energy_mj[handle]

    def nvmlDeviceGetClockInfo(self, handle: int, clock: int) -> int:
        self._check(handle)
        return 1980 if clock == NVML_CLOCK_SM else 2619

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:
        self._check(handle)
        return 60

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle: int) -> int:
        self._check(handle)
        return 0x4 if handle == 0 else 0
