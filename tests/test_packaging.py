"""The minimum versions CI tests against are setup.cfg's lower bounds."""

import configparser
import re
from pathlib import Path

from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent


def _requirements(text: str) -> dict[str, Version]:
    """name -> lower bound of ``name>=X`` lines (other specifiers after a comma ignored)."""
    found = {}
    for line in text.splitlines():
        match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?>=([^,\s]+).*", line)
        if match:
            found[match[1].lower()] = Version(match[2])
    return found


def test_ci_minimum_versions_are_the_lower_bounds_of_setup_cfg():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    required = _requirements(config["options"]["install_requires"])
    required |= _requirements(config["options.extras_require"]["dask"])
    pinned = {}
    for line in (ROOT / ".ci" / "minimum-versions.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pinned[name.strip().lower()] = Version(version)
    # torch: CI can only install the CPU build it is given (2.13.0), not the lower bound.
    assert "torch" in required
    del required["torch"]
    assert pinned == required


def test_ci_runs_the_tests_again_at_the_minimum_versions():
    script = (ROOT / ".ci" / "run").read_text()
    assert "-c .ci/minimum-versions.txt" in script
    assert script.count("python -m pytest -q") == 2
