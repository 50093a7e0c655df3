"""The report's figures drawn in a second process while the first one analyses the run.

Drawing seven PNGs costs about a second of CPU whatever the size of the run, and `harness report` has two
cores: `FigureWorker` starts `python -m harness.report.render` before the analysis begins (so it imports
matplotlib meanwhile), hands it the small `FigureData` as soon as the per-second tables are known, and
collects the paths of the PNGs it wrote at the end. While it waits for the data it draws a throwaway
figure (figures.warm_up), so that the first real one does not pay for loading fonts and parsers. If the
worker cannot start or fails, the figures are drawn here instead: slower, never missing.

The worker reads one pickled (FigureData, run directory) from its stdin and prints the JSON object of the
files it wrote; a parent that dies leaves it an end of file, and it exits.
"""

from __future__ import annotations

import gc
import json
import pickle
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # this module is imported first, before anything heavy, so that the worker starts at once
    from harness.report.figure_data import FigureData

TIMEOUT_S = 300
WORKER = ("-m", "harness.report.render")  # run by this interpreter


class FigureWorker:
    """A drawing process, started at once; `draw` sends it the data, `paths` waits for the files."""

    def __init__(self) -> None:
        self._data: tuple[FigureData, Path] | None = None
        self._sender: threading.Thread | None = None
        try:
            self._process: subprocess.Popen[bytes] | None = subprocess.Popen(
                [sys.executable, *WORKER],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )  # fmt: skip
        except OSError:
            self._process = None

    def draw(self, data: FigureData, run_dir: Path) -> None:
        """Hand the worker its data; returns at once (a thread writes it while the worker may still be
        importing matplotlib)."""
        self._data = (data, run_dir)
        if self._process is None or self._process.stdin is None:
            return
        stdin, self._process.stdin = self._process.stdin, None  # sent once: `communicate` must not touch it
        payload = pickle.dumps((data, str(run_dir)), protocol=pickle.HIGHEST_PROTOCOL)

        def send() -> None:
            try:
                stdin.write(payload)
                stdin.close()
            except OSError:  # the worker died; `paths` sees it and draws here
                pass

        self._sender = threading.Thread(target=send, name="figure-data", daemon=True)
        self._sender.start()

    def paths(self) -> dict[str, Path]:
        """The PNG of each figure, by name, in report order."""
        assert self._data is not None, "draw() first"
        if self._process is not None:
            try:
                out, err = self._process.communicate(timeout=TIMEOUT_S)
                if self._process.returncode == 0:
                    return {name: Path(path) for name, path in json.loads(out).items()}
                message = err.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
                print(f"harness: the figure worker failed ({message[0]}); drawing here", file=sys.stderr)
            except (subprocess.TimeoutExpired, ValueError):
                self.close()
        return _draw(*self._data)

    def close(self) -> None:
        """Stop the worker if it still runs (the report failed before it was needed)."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.communicate()
        self._process = None


def _draw(data: FigureData, run_dir: Path, *, release: bool = True) -> dict[str, Path]:
    from harness.report.figures import figures_of, save_figures  # matplotlib: only where figures are drawn

    return save_figures(figures_of(data), run_dir, release=release)


def main() -> int:
    import select

    from harness.report.figures import warm_up  # import matplotlib while the parent analyses

    if not select.select([sys.stdin], [], [], 0)[0]:  # the data is not there yet: use the wait
        warm_up()
    data, run_dir = pickle.load(sys.stdin.buffer)
    paths = _draw(data, Path(run_dir), release=False)  # this process exits next
    print(json.dumps({name: str(path) for name, path in paths.items()}))
    return 0


if __name__ == "__main__":
    code = main()
    gc.freeze()  # exit without the last collections of matplotlib's and pandas' objects (harness.cli.entry)
    sys.exit(code)
