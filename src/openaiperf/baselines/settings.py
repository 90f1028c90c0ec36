"""The gate's settings as given on the command line: one typed model, each field its flag
(:func:`openaiperf.settings.setting`), read by the stored-baseline gate
(:mod:`openaiperf.baselines.gate`) and the interleaved A/B comparison
(:mod:`openaiperf.baselines.ab`) and ``ob baseline compare`` (which spells some of its
flags its own way: :data:`openaiperf.baselines.commands.COMPARE_FLAGS`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import BeforeValidator, field_validator

from openaiperf.baselines import CONFIRM_ROUNDS
from openaiperf.baselines.compare import AB_ROUNDS, ALPHA, DRIFT, MIN_AB_ROUNDS, parse_alpha, parse_drift
from openaiperf.errors import ConfigError
from openaiperf.settings import Settings, parse_engine_option, setting


def parse_tolerances(items: Sequence[str], option: str = "--tolerance") -> dict[str, float]:
    """``["ttft_p90=0.05", ...]`` -> {"ttft_p90": 0.05}; a bad item names the option."""
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        if not sep or not name.strip() or not 0 < number < 10:
            raise ConfigError(f"expected METRIC=FRACTION with 0 < FRACTION < 10 (e.g. ttft_p90=0.05), got {item!r}",
                              source=option)
        out[name.strip()] = number
    return out


def _tolerances(value: Any) -> Any:
    return parse_tolerances(value) if isinstance(value, list) else value


class BaselineSettings(Settings):
    """The regression gate's options: the stored baselines (save, append, compare) and the
    interleaved A/B comparison."""

    group = "baseline"

    save: str | None = setting(
        flag="--baseline-save", nargs="?", const="", metavar="DIR", recorded=False,
        help="store each passing case as the baseline in DIR/<hw>/<case>.json (default DIR: baselines); "
             "needs --repeats >= 3")
    append: str | None = setting(
        flag="--baseline-append", nargs="?", const="", metavar="DIR", recorded=False,
        help="add each passing case's rounds to its stored baseline (same configuration; the last 10 runs are kept) "
             "so the gate measures run-to-run drift; needs --repeats >= 3")
    compare: str | None = setting(
        flag="--baseline-compare", nargs="?", const="", metavar="PATH", recorded=False,
        help="compare each case with its baseline under PATH (default: baselines): a regression fails the case, an "
             "inconclusive verdict passes with what would settle it")
    required: bool = setting(False, flag="--baseline-required", recorded=False,
                             help="a case without a baseline fails (implies --baseline-compare)")
    force: bool = setting(False, flag="--baseline-force", recorded=False,
                          help="compare with a baseline whose configuration (options, versions, device) differs")
    strict: bool = setting(False, flag="--baseline-strict", recorded=False,
                           help="an inconclusive baseline verdict fails the case too")
    alpha: Annotated[float, BeforeValidator(parse_alpha)] = setting(
        ALPHA, flag="--baseline-alpha", text=True, metavar="ALPHA", recorded=False,
        help="significance level of the baseline gate, family-wise per case")
    drift: Annotated[float, BeforeValidator(parse_drift)] = setting(
        DRIFT, flag="--baseline-drift", text=True, metavar="FRACTION", recorded=False,
        help="run-to-run drift (relative standard deviation of a run) that a baseline saved from one run assumes, "
             "since it cannot measure it (--baseline-append measures it)")
    confirm: int = setting(
        CONFIRM_ROUNDS, flag="--baseline-confirm", metavar="N", ge=0, recorded=False,
        help="rounds measured more, after the last, when the rounds so far make a regression against the stored "
             "baseline; the verdict is then on every round; 0: none")
    tolerances: Annotated[dict[str, float], BeforeValidator(_tolerances)] = setting(
        flag="--tolerance", action="append", metavar="METRIC=FRACTION", recorded=False, default_factory=dict,
        help="relative tolerance of a metric, e.g. ttft_p90=0.05 (repeatable)")
    ab_endpoint: str | None = setting(
        flag="--ab-endpoint", metavar="URL", recorded=False,
        help="interleaved A/B: measure every case against this second server (B) too, in alternating rounds "
             "(A B B A ...) in this session, and judge B against A (--endpoint or the managed server) by a paired "
             "test per metric: a regression fails the case")
    ab_engine_options: list[str] = setting(
        flag="--ab-engine-option", action="append", metavar="[ENGINE:]KEY=VALUE", recorded=False,
        default_factory=list,
        help="interleaved A/B: an engine option of the B side, e.g. server_args='--max-num-seqs 64' for a second "
             "managed server (repeatable; the other options are A's)")
    ab_rounds: int = setting(
        AB_ROUNDS, flag="--ab-rounds", metavar="N", ge=MIN_AB_ROUNDS, recorded=False,
        help="interleaved A/B: the most rounds a side; the rounds stop at the first look that decides (after 4 "
             "rounds a side, then every 2)")

    @field_validator("ab_endpoint")
    @classmethod
    def _url(cls, endpoint: str | None) -> str | None:
        if endpoint is not None and not endpoint.startswith(("http://", "https://")):
            raise ConfigError(f"expected the B side's server URL (http://HOST:PORT), got {endpoint!r}",
                              source="--ab-endpoint")
        return endpoint

    @field_validator("ab_engine_options")
    @classmethod
    def _engine_options(cls, texts: list[str]) -> list[str]:
        for text in texts:
            parse_engine_option(text, "--ab-engine-option")
        return texts
