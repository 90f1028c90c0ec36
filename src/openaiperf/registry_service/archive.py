"""Checking and unpacking a submitted ``ob pack`` archive.

An archive is accepted only when every member is a plain file or folder inside one
top folder (the run folder), no member is a link or a device, no path is absolute or
climbs with ``..``, the unpacked size stays under the limit, the manifest
(``SHA256SUMS``, written by ``ob pack``) lists every file with its checksum, and
``results.json`` is a valid results document whose records files are in the archive.
Files are written one by one to paths checked to stay inside the destination: the
archive's own idea of where a member goes is never used.
"""

from __future__ import annotations

import re
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from openaiperf.checksums import sha256_file
from openaiperf.errors import ConfigError, OpenAIPerfError
from openaiperf.report.commands import MANIFEST
from openaiperf.report.results import read_results
from openaiperf.result import RunResult

_MANIFEST_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")
_CHUNK = 1 << 20


class ArchiveRefused(OpenAIPerfError):
    """The archive is not accepted; the message says which member and why."""


@dataclass(frozen=True)
class ArchiveLimits:
    #: the most the unpacked files may hold together (a compressed archive may expand a lot)
    max_unpacked_bytes: int = 2 << 30
    max_members: int = 20_000


@dataclass
class UnpackedRun:
    folder: Path  # the run folder (inside the destination)
    run: RunResult
    files: int


def member_parts(name: str) -> tuple[str, ...]:
    """The path parts of an archive member's name; refused when absolute or climbing."""
    if not name:
        raise ArchiveRefused("a member with an empty name")
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or "\\" in name:
        raise ArchiveRefused(f"member {name!r}: an absolute path (only paths inside the run folder are accepted)")
    parts = tuple(p for p in PurePosixPath(name).parts if p != ".")
    if ".." in parts:
        raise ArchiveRefused(f"member {name!r}: a path with '..' (only paths inside the run folder are accepted)")
    if not parts:
        raise ArchiveRefused(f"member {name!r}: an empty path")
    return parts


def inside(root: Path, parts: tuple[str, ...]) -> Path:
    """``root/parts...``, checked to stay inside ``root`` once resolved."""
    target = root.joinpath(*parts)
    resolved_root = root.resolve()
    if not target.resolve().is_relative_to(resolved_root) or target.resolve() == resolved_root:
        raise ArchiveRefused(f"member {'/'.join(parts)!r} would be written outside its folder")
    return target


def _copy(source: IO[bytes] | None, target: Path, size: int) -> None:
    if source is None:
        raise ArchiveRefused(f"member {target.name!r} cannot be read")
    with target.open("wb") as handle:
        remaining = size
        while remaining > 0:
            chunk = source.read(min(_CHUNK, remaining))
            if not chunk:
                raise ArchiveRefused(f"member {target.name!r} is truncated")
            handle.write(chunk)
            remaining -= len(chunk)


def _check_manifest(folder: Path, written: set[tuple[str, ...]]) -> None:
    path = folder / MANIFEST
    if not path.is_file():
        raise ArchiveRefused(f"no {MANIFEST} in the run folder: pack the run with `ob pack` of this version")
    listed: set[tuple[str, ...]] = set()
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        match = _MANIFEST_LINE.match(line)
        if match is None:
            raise ArchiveRefused(f"{MANIFEST} line {number}: expected '<sha256>  <path>'")
        parts = member_parts(match.group(2))
        file = inside(folder, parts)
        if parts not in written or not file.is_file():
            raise ArchiveRefused(f"{MANIFEST} lists {match.group(2)!r}, which is not in the archive")
        if sha256_file(file) != match.group(1):
            raise ArchiveRefused(f"checksum mismatch: {match.group(2)!r} does not match its sha256 in {MANIFEST}")
        listed.add(parts)
    unlisted = sorted("/".join(p) for p in written - listed - {(MANIFEST,)})
    if unlisted:
        raise ArchiveRefused(f"file(s) not in {MANIFEST}: {', '.join(unlisted[:5])}")


def _read_run(folder: Path, written: set[tuple[str, ...]]) -> RunResult:
    if ("results.json",) not in written:
        raise ArchiveRefused("no results.json in the run folder")
    try:
        run = read_results(folder / "results.json")
    except ConfigError as exc:
        raise ArchiveRefused(str(exc).replace(str(folder / "results.json"), "results.json")) from None
    for case in run.cases:
        if case.records_file:
            parts = member_parts(case.records_file)
            if parts not in written:
                raise ArchiveRefused(f"results.json: case {case.id}: records file {case.records_file!r} "
                                     "is not in the archive")
    return run


def unpack(archive: Path, destination: Path, limits: ArchiveLimits | None = None) -> UnpackedRun:
    """Check ``archive`` and unpack its run folder into ``destination`` (created; removed
    again when the archive is refused)."""
    limits = limits or ArchiveLimits()
    destination.mkdir(parents=True)
    try:
        return _unpack(archive, destination, limits)
    except BaseException:
        shutil.rmtree(destination, ignore_errors=True)
        raise


def _unpack(archive: Path, destination: Path, limits: ArchiveLimits) -> UnpackedRun:
    try:
        opened = tarfile.open(archive, "r:*")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ArchiveRefused(f"not a tar archive (gzip or plain): {exc}") from None
    top: str | None = None
    written: set[tuple[str, ...]] = set()
    total = members = 0
    with opened:
        try:
            for member in opened:
                members += 1
                if members > limits.max_members:
                    raise ArchiveRefused(f"more than {limits.max_members} members")
                parts = member_parts(member.name)
                if member.issym() or member.islnk():
                    raise ArchiveRefused(f"member {member.name!r}: a link (links are not accepted)")
                if not (member.isfile() or member.isdir()):
                    raise ArchiveRefused(f"member {member.name!r}: not a plain file or folder")
                top = top or parts[0]
                if parts[0] != top:
                    raise ArchiveRefused(f"member {member.name!r} is outside the run folder {top!r} "
                                         "(an archive holds one run folder)")
                if member.isdir():
                    if len(parts) > 1:
                        inside(destination, parts).mkdir(parents=True, exist_ok=True)
                    continue
                if len(parts) < 2:
                    raise ArchiveRefused(f"member {member.name!r} is not inside a run folder")
                total += member.size
                if total > limits.max_unpacked_bytes:
                    raise ArchiveRefused(f"the unpacked files exceed {limits.max_unpacked_bytes} bytes")
                target = inside(destination, parts)
                if parts[1:] in written:
                    raise ArchiveRefused(f"member {member.name!r} appears twice")
                target.parent.mkdir(parents=True, exist_ok=True)
                _copy(opened.extractfile(member), target, member.size)
                written.add(parts[1:])
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise ArchiveRefused(f"the archive cannot be read: {exc}") from None
    if top is None:
        raise ArchiveRefused("the archive is empty")
    folder = inside(destination, (top,))
    _check_manifest(folder, written)
    run = _read_run(folder, written)
    return UnpackedRun(folder=folder, run=run, files=len(written))
