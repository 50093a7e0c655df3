"""`harness init`: a commented starter scenario for a question (starters/*.yaml), or the skeleton of a
plugin package (plugin/*.tmpl: one flow, one fault, one probe, one metric, their entry points, a scenario
using them).
Nothing is overwritten: an existing file is an error (exit 2)."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from harness.errors import InputError

QUESTIONS = ("brownout", "throttling", "key-rotation", "external")
PACKAGE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
_PLUGIN_FILES = {  # template -> where it goes in the new project (__PKG__: the package's name)
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "scenario.yaml.tmpl": "scenario.yaml",
    "pkg/__init__.py.tmpl": "__PKG__/__init__.py",
    "pkg/journeys.py.tmpl": "__PKG__/journeys.py",
    "pkg/faults.py.tmpl": "__PKG__/faults.py",
    "pkg/probes.py.tmpl": "__PKG__/probes.py",
    "pkg/metrics.py.tmpl": "__PKG__/metrics.py",
}


def starter(question: str) -> str:
    if question not in QUESTIONS:
        raise InputError(f"no starter for {question!r} (known: {', '.join(QUESTIONS)})")
    return (resources.files(__package__) / "starters" / f"{question}.yaml").read_text(encoding="utf-8")


def write_starter(question: str, out: Path) -> Path:
    text = starter(question)
    _refuse_existing([out])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out


def write_plugin(package: str, directory: Path) -> list[Path]:
    """The skeleton of plugin package `package` in `directory` (made if missing); the files written."""
    if not PACKAGE_NAME.match(package):
        raise InputError(f"{package!r} is not a package name for a plugin (lowercase letters, digits and _, "
                         "starting with a letter)")  # fmt: skip
    root = resources.files(__package__) / "plugin"
    targets = {directory / dest.replace("__PKG__", package): src for src, dest in _PLUGIN_FILES.items()}
    _refuse_existing(list(targets))
    for path, src in targets.items():
        text = (root / src).read_text(encoding="utf-8").replace("__PKG__", package)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return list(targets)


def _refuse_existing(paths: list[Path]) -> None:
    existing = [str(p) for p in paths if p.exists()]
    if existing:
        raise InputError(f"not overwriting {', '.join(existing)}; remove it or choose another place")
