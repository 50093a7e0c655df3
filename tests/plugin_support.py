"""The test plugin package (tests/fixtures/harness_testplugin) in the tests' processes:

- `install(source, target)`: pip-installs it, offline (--no-index, --no-build-isolation: the build backend
  is the test environment's own), into a directory of its own; a subprocess with that directory on
  PYTHONPATH (`plugin_env`) finds its entry points as an installed plugin's. The venv itself stays clean,
  so the committed schema and the listings of the other tests never see it.
- `registry_with(...)`: in this process, a registry of the installed entry points plus the fixture's
  (read from its pyproject.toml) or any others, for unit tests (nothing installed, nothing on the network).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from harness import plugins
from harness.scenario.model import rebuild_models

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "harness_testplugin"
PACKAGE = "harness-testplugin"


def install(source: Path, target: Path) -> Path:
    """pip-install the project at `source` into `target` (offline); returns `target`."""
    build = target.parent / f"{target.name}-src"
    shutil.copytree(source, build, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(target), str(build)], check=True, timeout=300)  # fmt: skip
    return target


def plugin_env(site: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    env["PYTHONPATH"] = os.pathsep.join([str(site), *filter(None, [env.get("PYTHONPATH")])])
    return env


@dataclass
class FakeDist:
    name: str
    version: str = "0.1.0"

    @property
    def metadata(self) -> dict[str, str]:
        return {"Name": self.name, "Version": self.version}


@dataclass
class FakeEntryPoint:
    name: str
    value: str
    group: str
    dist: FakeDist = field(default_factory=lambda: FakeDist(PACKAGE))


def _dist_name(entry: Any) -> str | None:
    dist = getattr(entry, "dist", None)
    return dist.metadata["Name"] if dist is not None else None


def fixture_entries() -> dict[str, dict[str, str]]:
    """group -> {name: value} of the fixture package's pyproject.toml."""
    project = tomllib.loads((FIXTURE / "pyproject.toml").read_text())["project"]
    return dict(project["entry-points"])


@contextlib.contextmanager
def registry_with(extra: Mapping[str, Mapping[str, str]] | None = None, package: str = PACKAGE,
                  fixture: bool = True) -> Iterator[plugins.Registry]:  # fmt: skip
    """The process's registry, for the duration: the installed entry points, the fixture package's (when
    `fixture`), and `extra` (group -> name -> module:attr) as registered by `package`."""
    groups: dict[str, dict[str, str]] = fixture_entries() if fixture else {}
    fakes: list[Any] = [FakeEntryPoint(n, v, g) for g, names in groups.items() for n, v in names.items()]
    fakes += [
        FakeEntryPoint(n, v, g, FakeDist(package)) for g, names in (extra or {}).items() for n, v in names.items()
    ]

    def source(group: str) -> list[Any]:
        # an install of the fixture in place (its egg-info beside it, found on sys.path) is not counted twice
        installed = [ep for ep in metadata.entry_points(group=group) if not (fixture and _dist_name(ep) == PACKAGE)]
        return [*installed, *(ep for ep in fakes if ep.group == group)]

    sys.path.insert(0, str(FIXTURE))
    registry = plugins.Registry(source)
    previous = plugins.use(registry)
    try:
        yield registry
    finally:
        plugins.use(previous)
        sys.path.remove(str(FIXTURE))
        for name in [m for m in sys.modules if m.split(".")[0] == "harness_testplugin"]:
            del sys.modules[name]  # imported from the fixture: gone with it
        rebuild_models()
