"""What a run's results document does not say about where it came from: the git
commit of the repository under test, the host, and the CI ref.

Saved as ``run-meta.json`` in the run folder at the end of the session, so that
``ob history import RUN_DIR`` later records the commit the run measured, not the
one checked out at import time.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

META_FILE = "run-meta.json"
GIT_TIMEOUT_S = 5.0


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                              timeout=GIT_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_info(root: Path) -> dict[str, Any]:
    """HEAD commit, branch and dirty flag of the checkout holding ``root`` ({} outside git)."""
    commit = _git(root, "rev-parse", "HEAD")
    if not commit:
        return {}
    branch = _git(root, "rev-parse", "--abbrev-ref", "HEAD")
    status = _git(root, "status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit, "git_branch": None if branch in (None, "HEAD") else branch,
            "git_dirty": None if status is None else bool(status)}


def collect_run_meta(root: Path) -> dict[str, Any]:
    """Run metadata for the history: git of ``root``, else ``$GITHUB_SHA``; the CI ref; the host."""
    meta: dict[str, Any] = git_info(root)
    if not meta.get("git_commit") and os.environ.get("GITHUB_SHA"):
        meta["git_commit"] = os.environ["GITHUB_SHA"]
    if os.environ.get("GITHUB_REF"):
        meta["ci_ref"] = os.environ["GITHUB_REF"]
    meta["host"] = platform.node() or None
    return meta


def write_run_meta(run_dir: Path, meta: dict[str, Any]) -> Path:
    path = run_dir / META_FILE
    path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return path


def read_run_meta(run_dir: Path) -> dict[str, Any]:
    """The run folder's ``run-meta.json`` ({} for folders written before it existed)."""
    path = run_dir / META_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
