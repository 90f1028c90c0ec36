"""Every command-line option of the suite, declared once.

:func:`options` lists them: the suite's own (:data:`BASE_OPTIONS`) and the flags
the registries declare (a scenario's or an engine's ``Options`` field made with
``option_field(..., flag="--qps-target")``). :func:`add_options` adds them to
pytest (:mod:`openaiperf.plugin.options`, group "OpenAIPerf") and to ``ob run``'s
argparse parser alike; :func:`check_values` refuses, at start-up, a value out of
its range or malformed, naming the option and what it accepts.
"""

from __future__ import annotations

import math
import re
import types
import typing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from openaiperf.baselines import CONFIRM_ROUNDS
from openaiperf.baselines.compare import AB_ROUNDS, ALPHA, DRIFT, MIN_AB_ROUNDS
from openaiperf.engines import engines
from openaiperf.errors import ConfigError
from openaiperf.history.location import normalize_url
from openaiperf.monitor.stalls import STALL_LIMIT_MS, STALL_RETRIES
from openaiperf.monitor.util import parse_interval
from openaiperf.scenarios import ScenarioConfig, scenarios

#: what --dtype accepts: the model registry's dtypes
MODEL_DTYPES = ("float32", "bfloat16", "float16")

GROUPS = {
    "selection": "what runs",
    "run": "how each case runs",
    "measurement": "monitoring, profiling, sweeps",
    "serving": "engines and the online scenarios' load",
    "baseline": "the regression gate",
    "report": "reports and the results history",
}


@dataclass(frozen=True)
class Option:
    """One command-line option (argparse's keywords, plus what the suite checks)."""

    flag: str
    help: str
    group: str
    default: Any = None
    type: Callable[[str], Any] | None = None
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    #: store_true | append
    action: str | None = None
    nargs: str | None = None
    const: Any = None
    #: numbers: (lowest accepted, whether the bound itself is accepted, highest accepted or None)
    bounds: tuple[float, bool, float | None] | None = None
    #: a check of a given value; raises ConfigError naming the option
    check: Callable[[Any], Any] | None = None
    #: written into results.json's ``config.options``
    recorded: bool = True
    #: a flag a registry declared: (axis, the options field it sets, the names whose options have it)
    target: tuple[str, str, tuple[str, ...]] | None = None

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    @property
    def shown_help(self) -> str:
        """The help with the declared default, so the two never disagree (a ``None`` default's
        meaning, e.g. "default: all", is the help's to say)."""
        if self.default is None or self.action in ("store_true", "append") or "default" in self.help:
            return self.help
        return f"{self.help} (default {self.default})"

    def kwargs(self) -> dict[str, Any]:
        """argparse's (and pytest's ``addoption``) keywords."""
        out: dict[str, Any] = {"help": self.shown_help, "dest": self.dest}
        if self.action == "store_true":
            return out | {"action": "store_true", "default": bool(self.default)}
        if self.action == "append":
            return out | {"action": "append", "default": [], "metavar": self.metavar}
        out |= {"default": self.default}
        for key in ("type", "metavar", "choices", "nargs", "const"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out

    def argv(self, value: Any) -> list[str]:
        """The command-line words that give ``value`` (none for the default)."""
        if value is None or value == self.kwargs()["default"]:
            return []
        if self.action == "store_true":
            return [self.flag]
        if self.action == "append":
            return [f"{self.flag}={item}" for item in value]
        if self.nargs == "?" and value == self.const:
            return [self.flag]
        return [f"{self.flag}={value}"]


def parse_engine_option(text: str, flag: str = "--engine-option") -> tuple[str | None, str, Any]:
    """``[ENGINE:]KEY=VALUE`` -> (engine or None for every engine, key, value);
    the value is read as YAML, so numbers and booleans keep their type."""
    head, sep, raw = text.partition("=")
    engine, colon, key = head.rpartition(":")
    if not sep or not key.strip():
        raise ConfigError(f"expected [ENGINE:]KEY=VALUE (e.g. vllm:max_model_len=1024), got {text!r}",
                          source=flag)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return (engine.strip() or None) if colon else None, key.strip(), value


def _engine_option(text: str) -> None:
    parse_engine_option(text)


def _interval(text: str) -> None:
    parse_interval(text, source="--monitor-interval")


def parse_stall_limit(text: str) -> float | None:
    """``--stall-limit``: ``"20ms"`` -> 20.0 (ms); ``"off"`` -> None."""
    if str(text).strip().lower() == "off":
        return None

    return 1000 * parse_interval(text, source="--stall-limit (a duration like 20ms, or off)")


def _salt(text: str) -> None:
    if not re.fullmatch(r"[0-9a-fA-F]{1,64}", text):
        raise ConfigError(f"{text!r} is not a salt: hex digits expected (e.g. 3f9a2c1b)", source="--salt")


def _stall_limit(text: str) -> None:
    parse_stall_limit(text)


def _dtype(value: str) -> None:
    if value not in MODEL_DTYPES:
        raise ConfigError(f"unknown dtype {value!r}; known: {', '.join(MODEL_DTYPES)}", source="--dtype")


def _history(url: str) -> None:
    normalize_url(url)


AT_LEAST_1 = (1, True, None)
AT_LEAST_0 = (0, True, None)

#: the plugin's own options, by group, in the order ``--help`` shows them
BASE_OPTIONS: tuple[Option, ...] = (
    # -- selection
    Option("--hw", "hardware profile (hardware_profiles/<NAME>.yaml), or 'auto' to probe the machine",
           "selection", default="auto", metavar="NAME|auto"),
    Option("--hw-dir", "extra directory of hardware profiles (searched first)", "selection", action="append",
           metavar="DIR", recorded=False),
    Option("--matrix", "suite definition (default: the matrix.yaml / *.matrix.yaml files in the collected folders)",
           "selection", metavar="PATH"),
    *(Option(f"--{kind}", f"{kind}s to run (comma-separated): narrows the matrix to them, and adds cases for "
              f"{'an' if kind == 'engine' else 'a'} {kind} the matrix does not have (see the README's selection rule)",
              "selection", metavar="A,B")
      for kind in ("task", "scenario", "engine", "model")),
    Option("--model-file", "extra model registry entries", "selection", action="append", metavar="YAML",
           recorded=False),
    Option("--task-file", "extra task definition (joins the matrix with its own scenarios)", "selection",
           action="append", metavar="YAML", recorded=False),
    # -- run
    Option("--max-samples", "samples per case (default: all)", "run", type=int, metavar="N", bounds=AT_LEAST_1),
    Option("--repeats", "measured rounds per case (pytest-benchmark rounds)", "run", default=1, type=int,
           metavar="N", bounds=AT_LEAST_1),
    Option("--subset-seed", "pick --max-samples samples at random with this seed (default: the first N)", "run",
           type=int, metavar="SEED", bounds=AT_LEAST_0),
    Option("--warmup-samples", "warmup requests before measuring (default: the task's warmup.samples)", "run",
           type=int, metavar="N", bounds=AT_LEAST_0),
    Option("--dtype", "model dtype (default: hardware profile's on CPU, else the model's)", "run", check=_dtype),
    Option("--weights", "real: load each model's checkpoint; random: build each model from its registry "
           "architecture with random weights on the device, no download (performance only: tasks that judge "
           "quality skip); default: each model's own setting (weights: in the model registry)", "run",
           choices=("real", "random")),
    Option("--salt", "the run's salt (hex digits): every prompt's salt derives from it, the case, the round and the "
           "attempt (default: 8 random hex digits per run, recorded in results.json and in each record); give a "
           "run's recorded salt to send exactly its prompts again", "run", metavar="HEX", check=_salt),
    Option("--max-cold-hit-rate", "a workload that declares no prefix sharing is INVALID when the server's own "
           "prefix-cache hit rate exceeds this (where the server counts one)", "run", default=0.05,
           type=float, metavar="FRACTION", bounds=(0, True, 1)),
    Option("--dataset-source", "load the task's eval dataset from here (e.g. the real XSum CSV)", "run",
           metavar="PATH|hf:ID"),
    Option("--max-error-rate", "fail a case whose failed-request fraction exceeds this", "run",
           default=0.0, type=float, metavar="FRACTION", bounds=(0, True, 1)),
    Option("--report-dir", "where run folders are written", "run", default="reports",
           metavar="DIR", recorded=False),
    # -- measurement
    Option("--monitor-interval", "resource monitor sampling interval, e.g. 100ms or 1s",
           "measurement", default="100ms", metavar="DURATION", check=_interval),
    Option("--no-monitor", "do not sample CPU/GPU/memory during cases", "measurement", action="store_true"),
    Option("--stall-limit", "measure a round again when the client stalled this long in it (a machine that stopped "
           "the client, not the engine) and for a tenth of the round's median TTFT or decoding time, e.g. 50ms; "
           "'off' never does",
           "measurement", default=f"{STALL_LIMIT_MS:g}ms", metavar="DURATION|off", check=_stall_limit),
    Option("--stall-retries", "how many times a stalled round is measured again at most",
           "measurement", default=STALL_RETRIES, type=int, metavar="N", bounds=AT_LEAST_0),
    Option("--profile", "torch: PyTorch profiler trace + top-ops table per case; nsys/ncu: re-run under Nsight",
           "measurement", choices=("torch", "nsys", "ncu")),
    Option("--sweep", 'expand each case over parameters, e.g. "batch_size:1,2,4;max_tokens:50,100"', "measurement",
           metavar="K:V1,V2;K2:..."),
    Option("--preset", "a preset from openaiperf/sweeps/presets.yaml: the sweeps quick, comprehensive, scaling, "
           "qps-curve, pareto; quality (the 48-sample XSum quality run); extended (the main job and the matrix suites "
           "marked preset: extended)", "measurement", metavar="NAME"),
    # -- serving (the engines' and scenarios' own flags follow, from their options)
    Option("--engine-option", "engine option, e.g. vllm:max_model_len=1024, or KEY=VALUE for every engine that "
           "takes KEY; repeatable", "serving", action="append", metavar="[ENGINE:]KEY=VALUE", check=_engine_option),
    # -- baseline
    Option("--baseline-save", "store each passing case as the baseline in DIR/<hw>/<case>.json (default DIR: "
           "baselines); needs --repeats >= 3", "baseline", nargs="?", const="", metavar="DIR", recorded=False),
    Option("--baseline-append", "add each passing case's rounds to its stored baseline (same configuration; the "
           "last 10 runs are kept) so the gate measures run-to-run drift; needs --repeats >= 3", "baseline",
           nargs="?", const="", metavar="DIR", recorded=False),
    Option("--baseline-compare", "compare each case with its baseline under PATH (default: baselines): a "
           "regression fails the case, an inconclusive verdict passes with what would settle it", "baseline",
           nargs="?", const="", metavar="PATH", recorded=False),
    Option("--baseline-required", "a case without a baseline fails (implies --baseline-compare)", "baseline",
           action="store_true", recorded=False),
    Option("--baseline-force", "compare with a baseline whose configuration (options, versions, device) differs",
           "baseline", action="store_true", recorded=False),
    Option("--baseline-strict", "an inconclusive baseline verdict fails the case too", "baseline",
           action="store_true", recorded=False),
    Option("--baseline-alpha", "significance level of the baseline gate, family-wise per case",
           "baseline", default=ALPHA, metavar="ALPHA", recorded=False),
    Option("--baseline-drift", "run-to-run drift (relative standard deviation of a run) that a baseline saved "
           "from one run assumes, since it cannot measure it (--baseline-append measures it)",
           "baseline", default=DRIFT, metavar="FRACTION", recorded=False),
    Option("--baseline-confirm", "rounds measured more, after the last, when the rounds so far make a regression "
           "against the stored baseline; the verdict is then on every round; 0: none",
           "baseline", default=CONFIRM_ROUNDS, type=int, metavar="N",
           bounds=AT_LEAST_0, recorded=False),
    Option("--tolerance", "relative tolerance of a metric, e.g. ttft_p90=0.05 (repeatable)", "baseline",
           action="append", metavar="METRIC=FRACTION", recorded=False),
    Option("--ab-endpoint", "interleaved A/B: measure every case against this second server (B) too, in "
           "alternating rounds (A B B A ...) in this session, and judge B against A (--endpoint or the managed "
           "server) by a paired test per metric: a regression fails the case", "baseline", metavar="URL",
           recorded=False),
    Option("--ab-engine-option", "interleaved A/B: an engine option of the B side, e.g. server_args='--max-num-seqs "
           "64' for a second managed server (repeatable; the other options are A's)", "baseline", action="append",
           metavar="[ENGINE:]KEY=VALUE", recorded=False),
    Option("--ab-rounds", f"interleaved A/B: the most rounds a side (default {AB_ROUNDS}); the rounds stop at the "
           "first look that decides (after 4 rounds a side, then every 2)", "baseline", default=AB_ROUNDS,
           type=int, metavar="N", bounds=(MIN_AB_ROUNDS, True, None), recorded=False),
    # -- report
    Option("--no-html-report", "do not write report.html into the run folder at the end of the session", "report",
           action="store_true", recorded=False),
    Option("--history", "results history store the run is written to: sqlite:///PATH, postgresql://USER@HOST/DB "
           "or a file path (default: $OPENAIPERF_HISTORY, else history.sqlite under the user data directory)",
           "report", metavar="URL", recorded=False, check=_history),
    Option("--no-history", "do not write the run into the results history (nor show trends in the reports)",
           "report", action="store_true", recorded=False),
)


# -- flags the registries declare -------------------------------------------------------------
def _simple_type(annotation: Any) -> Any:
    """The argparse type of a field: bool (a switch), int, float or str."""
    args = typing.get_args(annotation) if isinstance(annotation, types.UnionType) or \
        typing.get_origin(annotation) is typing.Union else (annotation,)
    for kind in (bool, int, float):
        if kind in args:
            return kind
    # a str subclass (RedactedStr: an endpoint that may hold credentials) parses the flag itself
    return next((a for a in args if isinstance(a, type) and issubclass(a, str) and a is not str), str)


def _bounds(metadata: Sequence[Any]) -> tuple[float, bool, float | None] | None:
    low: tuple[float, bool] | None = None
    high: float | None = None
    for item in metadata:
        if getattr(item, "ge", None) is not None:
            low = (item.ge, True)
        elif getattr(item, "gt", None) is not None:
            low = (item.gt, False)
        if getattr(item, "le", None) is not None:
            high = item.le
    if low is None and high is None:
        return None
    return (low or (-math.inf, True))[0], (low or (0, True))[1], high


def _field_check(model: Any, name: str, flag: str) -> Callable[[Any], None]:
    """Validate a given value as the options model will (its own validators included)."""

    def check(value: Any) -> None:
        from pydantic import ValidationError

        try:
            model.model_validate({name: value})
        except ValidationError as exc:
            first = exc.errors()[0]
            message = str((first.get("ctx") or {}).get("error") or first["msg"])
            raise ConfigError(f"{message}, got {value!r}" if "got" not in message else message, source=flag) from None

    return check


def field_options(axis: str, models: Iterable[tuple[str, Any]]) -> list[Option]:
    """The flags the fields of ``models`` (``(name, pydantic model)`` pairs) declare;
    a flag several models declare is one option that applies to all of them."""
    found: dict[str, tuple[Any, Any, str, list[str]]] = {}
    for owner, model in models:
        for name, info in model.model_fields.items():
            extra = info.json_schema_extra
            flag = extra.get("flag") if isinstance(extra, dict) else None
            if not flag:
                continue
            entry = found.setdefault(flag, (info, model, name, []))
            if entry[2] != name:
                raise ConfigError(f"{axis} {owner} declares {flag} for its option {name!r}; another {axis} declares "
                                  f"it for {entry[2]!r}", source=flag)
            entry[3].append(owner)
    out = []
    for flag, (info, model, name, owners) in found.items():
        kind = _simple_type(info.annotation)
        scope = "" if owners == ["*"] else f"{', '.join(owners)}: "
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        help_text = scope + (info.description or name)
        if info.default is not None and kind is not bool and "default" not in help_text:
            help_text += f" (default {info.default})"
        target = (axis, name, tuple(owners))
        if kind is bool:
            out.append(Option(flag, help_text, "serving", action="store_true", target=target))
        else:
            bounds = _bounds(info.metadata) if kind in (int, float) else None
            out.append(Option(flag, help_text, "serving", type=kind if kind is not str else None,
                              metavar=extra.get("metavar"), bounds=bounds, check=_field_check(model, name, flag),
                              target=target))
    return out


def registry_options() -> list[Option]:
    """The flags of the scenarios' options (the shared ones apply to every scenario)
    and of the engines' options, from the classes registered when options are added."""
    scenario_models = [(name, cls.Options) for name, cls in scenarios.classes().items()]
    engine_models = [(name, cls.Options) for name, cls in engines.classes().items()]
    return [*field_options("engine", engine_models), *field_options("scenario", scenario_models),
            *field_options("scenario", [("*", ScenarioConfig)])]


def options() -> list[Option]:
    """Every option: the plugin's own, then the registries' flags in the serving group."""
    generated = registry_options()
    own = {o.flag for o in BASE_OPTIONS}
    clash = [o.flag for o in generated if o.flag in own]
    if clash:
        raise ConfigError(f"a registered class declares the flag(s) {clash}, which the suite already has",
                          source="options")
    serving_end = max(i for i, o in enumerate(BASE_OPTIONS) if o.group == "serving") + 1
    return [*BASE_OPTIONS[:serving_end], *generated, *BASE_OPTIONS[serving_end:]]


def add_options_as(addoption: Callable[..., Any], flags: dict[str, str]) -> None:
    """Add the options ``flags`` names (declared flag -> the flag another command spells it
    with, e.g. ``--baseline-force`` -> ``--force``) with their declared help, default and type."""
    declared = {option.flag: option for option in options()}
    for flag, spelled in flags.items():
        kwargs = declared[flag].kwargs() | {"dest": spelled.removeprefix("--").replace("-", "_")}
        addoption(spelled, **kwargs)


def add_options(addoption: Callable[..., Any], prefix: str = "", groups: Iterable[str] | None = None) -> None:
    """Add every option (of ``groups``, default all) with ``addoption(flag, **kwargs)``:
    pytest's ``group.addoption`` or argparse's ``add_argument``; ``prefix`` goes
    between the dashes and the name (``--ob-max-samples``)."""
    wanted = set(groups) if groups is not None else None
    for option in options():
        if wanted is None or option.group in wanted:
            flag = "--" + prefix + option.flag.removeprefix("--")
            kwargs = option.kwargs()
            if prefix:
                kwargs["dest"] = prefix.replace("-", "_") + kwargs["dest"]
            addoption(flag, **kwargs)


# -- start-up checks --------------------------------------------------------------------------
def accepted_text(bounds: tuple[float, bool, float | None], integer: bool) -> str:
    low, inclusive, high = bounds
    if high is not None:
        return f"a number in [{low:g}, {high:g}]"
    return f"{'an integer' if integer else 'a number'} {'>=' if inclusive else '>'} {low:g}"


def check_value(option: Option, value: Any) -> None:
    """Refuse ``value`` of ``option`` when out of range or malformed (ConfigError naming the option)."""
    if value is None or value is False or value == []:
        return
    if option.bounds is not None:
        low, inclusive, high = option.bounds
        too_low = value < low if inclusive else value <= low
        if too_low or (high is not None and value > high) or math.isnan(value):
            raise ConfigError(f"expected {accepted_text(option.bounds, isinstance(value, int))}, got {value!r}",
                              source=option.flag)
    if option.check is not None:
        for item in value if option.action == "append" else [value]:
            option.check(item)


def check_values(option: Callable[[str], Any]) -> None:
    """Every given value in range and well-formed (a ConfigError names the option)."""
    for declared in options():
        check_value(declared, option(declared.dest))


def recorded_options() -> list[str]:
    """The options written into results.json (how the cases were run, secrets masked)."""
    return [o.dest for o in options() if o.recorded]


def flag_of(axis: str, field: str) -> str | None:
    """The command-line flag that sets ``field`` of the ``axis`` options, where one does."""
    return next((o.flag for o in registry_options() if o.target and o.target[:2] == (axis, field)), None)

