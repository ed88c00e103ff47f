"""pyproject.toml is the one list of dependencies: each hashed lock must be compiled from
its dependency group, and hold exactly that group's packages as its direct requirements."""

import re
import tomllib
from pathlib import Path

import pytest

from tests.support import PROJECT_ROOT

LOCKS = {"serve": "serve.txt", "runtime": "runtime.txt", "dev": "dev.txt", "spark": "spark.txt"}


def _name(requirement: str) -> str:
    name = re.match(r"[A-Za-z0-9_.-]+", requirement.strip()).group(0)
    return re.sub(r"[-_.]+", "-", name).lower()


def _group(groups: dict, name: str) -> set[str]:
    names: set[str] = set()
    for item in groups[name]:
        if isinstance(item, dict):
            names |= _group(groups, item["include-group"])
        else:
            names.add(_name(item))
    return names


def _direct(lock: str, group: str) -> set[str]:
    """Packages the lock says it took from the group (`# via credit-default (...:group)`)."""
    direct, current = set(), None
    marker = f"credit-default (pyproject.toml:{group})"
    for line in lock.splitlines():
        if re.match(r"^[A-Za-z0-9]", line):
            current = _name(line.split("==")[0])
        elif marker in line and current is not None:
            direct.add(current)
    return direct


@pytest.mark.parametrize("group", LOCKS)
def test_each_lock_is_compiled_from_its_group_and_holds_exactly_its_packages(group: str) -> None:
    groups = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["dependency-groups"]
    lock = (PROJECT_ROOT / "requirements" / LOCKS[group]).read_text()
    assert f"--group {group} " in lock.splitlines()[1], "regenerate the locks with `make lock`"
    assert _direct(lock, group) == _group(groups, group)
    assert "--hash=sha256:" in lock


def test_the_image_lock_holds_nothing_that_trains() -> None:
    lock = Path(PROJECT_ROOT / "requirements" / "serve.txt").read_text()
    pinned = {_name(line) for line in lock.splitlines() if re.match(r"^[A-Za-z0-9]", line)}
    assert not pinned & {"scikit-learn", "scipy", "pandas", "joblib", "skl2onnx", "onnx"}
