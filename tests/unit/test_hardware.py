"""Hardware profiles, the machine probe, profile matching and ``ob init``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from openaiperf.errors import ConfigError, UnknownNameError
from openaiperf.hardware import HardwareProfile, list_profiles, load_profile, profile_dirs
from openaiperf.hardware.commands import register
from openaiperf.hardware.probe import match_profile, probe_system
from openaiperf.result import SystemInfo

REPO_PROFILES = Path(__file__).resolve().parents[2] / "hardware_profiles"
SHIPPED = sorted(p.stem for p in REPO_PROFILES.glob("*.yaml"))
GPU_PROFILES = [n for n in SHIPPED if n != "cpu"]

VALID_GPU = """\
name: {name}
vendor: nvidia
device: cuda
backend: cuda
memory_gib: 80
memory_bandwidth_gbs: 3350
peak_tflops: {{bf16: 989.5}}
tdp_w: 700
default_dtype: bfloat16
match: ['TESTGPU']
"""


def write_profile(directory: Path, stem: str, text: str) -> Path:
    path = directory / f"{stem}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_all_expected_profiles_ship() -> None:
    assert {"h100", "h200", "a100", "l40s", "mi300x", "dcu-k100", "cpu"} <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_profile_loads(name: str) -> None:
    profile = load_profile(name, [REPO_PROFILES])
    assert profile.name == name


@pytest.mark.parametrize("name", GPU_PROFILES)
def test_gpu_profiles_have_bf16_peak_and_bandwidth(name: str) -> None:
    profile = load_profile(name, [REPO_PROFILES])
    assert profile.device == "cuda"
    assert profile.default_dtype == "bfloat16"
    assert profile.peak_flops("bf16") is not None and profile.peak_flops("bf16") > 1e14
    assert profile.bandwidth_bytes_per_s() is not None and profile.bandwidth_bytes_per_s() > 1e11
    assert profile.memory_bytes() is not None
    assert profile.match, "a GPU profile must be matchable by --hw auto"


def test_h100_figures_are_dense_datasheet_values() -> None:
    h100 = load_profile("h100", [REPO_PROFILES])
    assert h100.peak_flops("bf16") == pytest.approx(989.5e12)
    assert h100.bandwidth_bytes_per_s() == pytest.approx(3.35e12)
    assert h100.memory_bytes() == 80 * 2**30
    a100 = load_profile("a100", [REPO_PROFILES])
    assert a100.peak_flops("fp8") is None  # Ampere has no FP8


def test_repo_profiles_dir_is_found_without_extra_dirs() -> None:
    assert REPO_PROFILES.resolve() in profile_dirs()
    assert "h100" in list_profiles()


def test_env_var_and_extra_dirs_come_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_dir, extra_dir = tmp_path / "env", tmp_path / "extra"
    env_dir.mkdir()
    extra_dir.mkdir()
    monkeypatch.setenv("OPENAIPERF_HARDWARE_PROFILES", str(env_dir))
    dirs = profile_dirs([extra_dir, extra_dir])
    assert dirs[:2] == [extra_dir.resolve(), env_dir.resolve()]
    assert len(dirs) == len(set(dirs))
    # A user's h100.yaml overrides the shipped one.
    write_profile(env_dir, "h100", VALID_GPU.format(name="h100").replace("3350", "1234"))
    assert load_profile("h100").memory_bandwidth_gbs == 1234


def test_unknown_profile_lists_known_ones() -> None:
    with pytest.raises(UnknownNameError) as info:
        load_profile("h1000", [REPO_PROFILES])
    message = str(info.value)
    assert "--hw" in message and "'h1000'" in message
    assert "h100" in message and "cpu" in message and "mi300x" in message


def test_valid_custom_profile_loads(tmp_path: Path) -> None:
    write_profile(tmp_path, "testgpu", VALID_GPU.format(name="testgpu"))
    assert load_profile("testgpu", [tmp_path]).peak_flops("bfloat16") == pytest.approx(989.5e12)


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda t: t.replace("memory_gib:", "memory_gb:"), "memory_gb"),  # mistyped field
        (lambda t: t.replace("tdp_w: 700", "tdp_w: -700"), "tdp_w"),  # negative number
        (lambda t: t.replace("{bf16: 989.5}", "{bf16: -1}"), "peak_tflops"),  # negative peak
        (lambda t: t.replace("{bf16: 989.5}", "{bf32: 989.5}"), "peak_tflops"),  # unknown dtype
        (lambda t: t.replace("device: cuda", "device: gpu"), "device"),
        (lambda t: t.replace("['TESTGPU']", "['H100(']"), "match"),  # bad regex
    ],
)
def test_bad_profile_names_file_and_field(tmp_path: Path, edit, field: str) -> None:
    path = write_profile(tmp_path, "badgpu", edit(VALID_GPU.format(name="badgpu")))
    with pytest.raises(ConfigError) as info:
        load_profile("badgpu", [tmp_path])
    assert str(path) in str(info.value)
    assert info.value.field is not None and info.value.field.startswith(field)


def test_gpu_profile_without_bandwidth_is_rejected(tmp_path: Path) -> None:
    path = write_profile(tmp_path, "nobw", VALID_GPU.format(name="nobw").replace("memory_bandwidth_gbs: 3350\n", ""))
    with pytest.raises(ConfigError, match="memory_bandwidth_gbs") as info:
        load_profile("nobw", [tmp_path])
    assert str(path) in str(info.value)


def test_name_must_equal_file_stem(tmp_path: Path) -> None:
    path = write_profile(tmp_path, "mygpu", VALID_GPU.format(name="othergpu"))
    with pytest.raises(ConfigError) as info:
        load_profile("mygpu", [tmp_path])
    assert info.value.field == "name"
    assert str(path) in str(info.value) and "othergpu" in str(info.value)


def test_malformed_yaml_names_file(tmp_path: Path) -> None:
    path = write_profile(tmp_path, "broken", "name: broken\npeak_tflops: {bf16: [\n")
    with pytest.raises(ConfigError, match="malformed YAML") as info:
        load_profile("broken", [tmp_path])
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("dtype", "tflops"),
    [("bf16", 989.5), ("bfloat16", 989.5), ("torch.bfloat16", 989.5), ("float16", 989.5),
     ("half", 989.5), ("fp16", 989.5), ("float32", 67), ("fp32", 67), ("float8_e4m3fn", 1979),
     ("int8", 1979), ("tf32", 494.5)],
)
def test_peak_flops_dtype_aliases(dtype: str, tflops: float) -> None:
    assert load_profile("h100", [REPO_PROFILES]).peak_flops(dtype) == pytest.approx(tflops * 1e12)


def test_peak_flops_unknown_dtype_is_none() -> None:
    assert load_profile("h100", [REPO_PROFILES]).peak_flops("complex128") is None


def fake_system(accelerators: list[dict] | None = None, **cpu: object) -> SystemInfo:
    return SystemInfo.model_validate({
        "hardware": {
            "cpu": {"model": "Fake CPU", "cores": 8, "threads": 16, "frequency_ghz": 3.0, **cpu},
            "accelerators": accelerators or [],
            "memory": {"total_gb": 64.0, "type": None},
        }
    })


def test_cpu_peak_estimate_by_isa() -> None:
    cpu = load_profile("cpu", [REPO_PROFILES])
    assert cpu.estimate_peak and not cpu.peak_tflops and cpu.max_model_params_b == 3
    # 8 cores x 3.0 GHz x 64 FLOP/cycle (AVX-512, two FMA units) = 1.536 TFLOP/s
    avx512 = fake_system(isa="avx512", isa_extensions=["avx2", "avx512f", "fma"])
    assert cpu.peak_flops("float32", avx512) == pytest.approx(1.536e12)
    assert cpu.peak_flops("bfloat16", avx512) == pytest.approx(1.536e12)  # no bf16 extension: as fp32
    # avx512_bf16 doubles bf16: 8 x 3.0 x 128 = 3.072 TFLOP/s
    bf16 = fake_system(isa="avx512", isa_extensions=["avx2", "avx512_bf16", "avx512f", "fma"])
    assert cpu.peak_flops("bf16", bf16) == pytest.approx(3.072e12)
    # AVX2 + FMA via full flags (--detailed): 8 x 3.0 x 32 = 0.768 TFLOP/s
    avx2 = fake_system(isa="avx2", flags=["sse4_2", "avx", "avx2", "fma"])
    assert cpu.peak_flops("fp32", avx2) == pytest.approx(0.768e12)
    # AVX without FMA: 8-lane add + 8-lane multiply = 16; SSE 8
    assert cpu.peak_flops("fp32", fake_system(isa_extensions=["avx", "sse4_2"])) == pytest.approx(8 * 3.0e9 * 16)
    assert cpu.peak_flops("fp32", fake_system(isa_extensions=["sse4_2"])) == pytest.approx(8 * 3.0e9 * 8)
    # ARM: NEON up to four 128-bit FMA pipes (32), SVE up to two 512-bit ones (64)
    assert cpu.peak_flops("fp32", fake_system(isa_extensions=["asimd"])) == pytest.approx(8 * 3.0e9 * 32)
    assert cpu.peak_flops("fp32", fake_system(isa_extensions=["asimd", "sve"])) == pytest.approx(8 * 3.0e9 * 64)
    # Nothing known about the ISA: no estimate rather than a guess that may be exceeded
    assert cpu.peak_flops("fp32", fake_system()) is None


def test_cpu_peak_unknown_without_probe_data() -> None:
    cpu = load_profile("cpu", [REPO_PROFILES])
    assert cpu.peak_flops("fp32") is None
    assert cpu.peak_flops("fp32", fake_system(frequency_ghz=None)) is None
    assert cpu.peak_flops("fp8", fake_system()) is None


def test_cpu_memory_and_bandwidth_from_probe() -> None:
    cpu = load_profile("cpu", [REPO_PROFILES])
    assert cpu.memory_bytes(fake_system()) == 64 * 2**30
    assert cpu.memory_bytes() is None
    assert cpu.bandwidth_bytes_per_s(fake_system()) is None
    with_bw = fake_system()
    with_bw.hardware.memory.bandwidth_gbs = 200  # type: ignore[union-attr]
    assert cpu.bandwidth_bytes_per_s(with_bw) == pytest.approx(200e9)


def gpu(name: str) -> dict:
    return {"type": "gpu", "vendor": "nvidia", "name": name, "count": 8, "memory_gb": 79.6}


@pytest.mark.parametrize(
    ("name", "profile"),
    [
        ("NVIDIA H100 80GB HBM3", "h100"),
        ("NVIDIA H200", "h200"),
        ("NVIDIA A100-SXM4-80GB", "a100"),
        ("NVIDIA L40S", "l40s"),
        ("AMD Instinct MI300X", "mi300x"),
        ("K100_AI", "dcu-k100"),
    ],
)
def test_match_profile(name: str, profile: str) -> None:
    assert match_profile(fake_system([gpu(name)]), [REPO_PROFILES]) == profile


def test_match_profile_without_gpu_is_cpu() -> None:
    assert match_profile(fake_system(), [REPO_PROFILES]) == "cpu"


@pytest.mark.parametrize("name", ["NVIDIA GeForce RTX 4090", "NVIDIA H100 PCIe", "NVIDIA A100-SXM4-40GB"])
def test_match_profile_unknown_gpu_is_an_error(name: str) -> None:
    with pytest.raises(ConfigError) as info:
        match_profile(fake_system([gpu(name)]), [REPO_PROFILES])
    message = str(info.value)
    assert info.value.source == "--hw auto"
    assert f"GPU '{name}'" in message and "h100" in message


def test_probe_system_shape() -> None:
    system = probe_system().model_dump(mode="json", exclude_unset=True)  # as ob init writes it
    hw, sw = system["hardware"], system["software"]
    cpu = hw["cpu"]
    assert {"model", "cores", "threads", "frequency_ghz", "isa"} <= set(cpu)
    assert cpu["cores"] >= 1 and cpu["threads"] >= cpu["cores"]
    assert "flags" not in cpu
    assert isinstance(hw["accelerators"], list)
    assert hw["memory"]["total_gb"] > 0
    assert {"os", "python", "driver", "compute_backend", "packages"} <= set(sw)
    assert sw["compute_backend"]["type"] in {"cuda", "rocm", "cpu"}
    assert sw["packages"]["torch"] is not None  # installed in the test environment
    assert "vllm" in sw["packages"]
    assert system["probed_at"]
    json.dumps(system)  # serializable as system.json


def test_probe_system_detailed_adds_flags() -> None:
    cpu = probe_system(detailed=True).hardware.cpu
    assert "flags" in cpu.model_fields_set and isinstance(cpu.flags, list)


def test_probe_survives_a_broken_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    import pynvml

    def boom() -> None:
        raise pynvml.NVMLError(pynvml.NVML_ERROR_DRIVER_NOT_LOADED)

    monkeypatch.setattr(pynvml, "nvmlInit", boom)
    monkeypatch.setattr("shutil.which", lambda _name: None)  # no rocm-smi either
    system = probe_system()
    assert system.hardware.accelerators == []
    assert system.software.compute_backend is not None and system.software.compute_backend.type == "cpu"


def test_probed_machine_matches_a_profile_or_explains() -> None:
    system = probe_system()
    if not system.hardware.accelerators:
        assert match_profile(system) == "cpu"
        cpu = load_profile("cpu")
        assert cpu.memory_bytes(system) > 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ob")
    register(parser.add_subparsers(dest="command"))
    return parser


def test_init_auto_writes_system_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sub" / "system.json"
    args = build_parser().parse_args(["init", "--auto", "--output", str(out)])
    assert args.func(args) == 0
    written = json.loads(out.read_text(encoding="utf-8"))
    assert written["hardware"]["cpu"]["cores"] >= 1
    captured = capsys.readouterr()
    assert json.loads(captured.out) == written  # stdout is pure JSON
    assert "hardware profile:" in captured.err


def test_init_without_auto_prints_hint(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["init"])
    assert args.func(args) == 2
    assert "--auto" in capsys.readouterr().err


def test_profile_is_frozen() -> None:
    profile = load_profile("h100", [REPO_PROFILES])
    with pytest.raises(ValidationError):
        profile.tdp_w = 1  # type: ignore[misc]
    assert isinstance(profile, HardwareProfile)


def cpuinfo(vendor: str = "AuthenticAMD", family: int = 25, model: int = 1, mhz: float = 2445.4) -> list[dict]:
    return [{"vendor_id": vendor, "cpu family": str(family), "model": str(model), "cpu MHz": str(mhz)}] * 2


def test_cpu_clock_is_the_maximum_boost_from_sysfs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from openaiperf.hardware.probe import cpu as probe

    for index, khz in enumerate((3_500_000, 3_700_000)):
        folder = tmp_path / f"cpu{index}" / "cpufreq"
        folder.mkdir(parents=True)
        (folder / "cpuinfo_max_freq").write_text(f"{khz}\n")
    monkeypatch.setattr(probe, "_lscpu_max_mhz", lambda: 9999.0)  # sysfs comes first
    ghz, source, is_max = probe._cpu_frequency(cpuinfo(), tmp_path)
    assert ghz == 3.7 and is_max and "cpuinfo_max_freq" in source


def test_cpu_clock_falls_back_to_the_line_then_lscpu_and_never_to_the_current_clock(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from openaiperf.hardware.probe import cpu as probe

    monkeypatch.setattr(probe, "_lscpu_max_mhz", lambda: 3900.0)
    # a VM on a Zen 3 EPYC that hides its clock ("cpu MHz" is the 2.445 GHz TSC rate): the Milan line's 4.1 GHz
    ghz, source, is_max = probe._cpu_frequency(cpuinfo(), tmp_path)
    assert (ghz, is_max) == (4.1, True) and "Milan" in source
    # a line the table does not hold: lscpu's maximum
    assert probe._cpu_frequency(cpuinfo("GenuineIntel", 6, 999), tmp_path)[:3:2] == (3.9, True)
    monkeypatch.setattr(probe, "_lscpu_max_mhz", lambda: None)
    import psutil

    monkeypatch.setattr(psutil, "cpu_freq", lambda: None)  # only /proc/cpuinfo's current clock is left
    ghz, source, is_max = probe._cpu_frequency(cpuinfo("GenuineIntel", 6, 999), tmp_path)
    assert (ghz, is_max) == (None, False)
    assert source.startswith("unknown") and "2.445 GHz, is no upper bound" in source


def test_without_a_maximum_clock_the_cpu_has_no_peak_and_says_so() -> None:
    cpu = load_profile("cpu", [REPO_PROFILES])
    system = fake_system(isa_extensions=["avx2", "fma"], frequency_source="unknown: no maximum clock")
    system.hardware.cpu.frequency_is_max = False
    peak, source = cpu.peak("float32", system)
    assert peak is None and "no upper bound is known" in source and "calibration" in source


def test_the_cpu_peak_says_where_it_comes_from() -> None:
    cpu = load_profile("cpu", [REPO_PROFILES])
    system = fake_system(isa_extensions=["avx2", "fma"], frequency_source="sysfs cpuinfo_max_freq")
    peak, source = cpu.peak("float32", system)
    assert peak == pytest.approx(8 * 3.0e9 * 32)
    assert source.startswith("estimated: 8 physical core(s) x 3 GHz (sysfs cpuinfo_max_freq) x 32 FLOP/cycle")
    source = load_profile("h100", [REPO_PROFILES]).peak("bf16")[1]
    assert source == "hardware profile 'h100': datasheet peak_tflops.bf16"


def test_calibration_gemm_stays_below_the_estimated_cpu_peak() -> None:
    """The peak is a true upper bound: the calibration GEMM on this machine reaches less than 100% of it."""
    from openaiperf.hardware.calibration import CalibrationPlan, calibrate

    pytest.importorskip("torch")
    cpu = load_profile("cpu", [REPO_PROFILES])
    result = calibrate(
        cpu, probe_system(), CalibrationPlan("cpu", "float32", gemm_n=512, copy_bytes=16 * 2**20, budget_s=0.5)
    )
    if result["gemm_fraction"] is None:
        pytest.skip(f"no CPU peak estimate here: {result['profile_peak_source']}")
    if not probe_system().hardware.cpu.frequency_is_max:
        pytest.skip("this machine states no maximum clock and its CPU line is not in the table")
    assert 0 < result["gemm_fraction"] < 1.0, result
    assert result["profile_peak_source"].startswith("estimated:")
