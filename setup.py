"""Ships the repository's top-level ``hardware_profiles/`` inside the package.

The profiles live at the top of the repository, where users add theirs (the
layout the design card fixes), so they are not under ``src/``: this step copies
them into ``openaiperf/hardware_profiles/`` of the build, where an installed
package (a wheel, not an editable checkout) finds them. Everything else is in
``pyproject.toml``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

PROFILES = Path(__file__).resolve().parent / "hardware_profiles"


class BuildWithProfiles(build_py):  # type: ignore[misc]
    def run(self) -> None:
        super().run()
        if not self.dry_run:
            target = Path(self.build_lib) / "openaiperf" / "hardware_profiles"
            target.mkdir(parents=True, exist_ok=True)
            for profile in sorted(PROFILES.glob("*.yaml")):
                shutil.copy2(profile, target / profile.name)


setup(cmdclass={"build_py": BuildWithProfiles})
