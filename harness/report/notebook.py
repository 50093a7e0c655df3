"""`harness notebook RUN_DIR`: the report notebook executed against a run, as `.ipynb` and `.html`.

The template is a jupytext percent-format file kept in the package (`notebook_template.py`), so it diffs
and reviews like code. Parameters are injected the way papermill does it: a cell tagged
`injected-parameters` right after the one tagged `parameters`. nbclient executes it in a Python kernel
whose working directory is the run directory; nbconvert exports the executed notebook to HTML.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import InputError

TEMPLATE = Path(__file__).with_name("notebook_template.py")
NOTEBOOK_FILE = "notebook.ipynb"
NOTEBOOK_HTML = "notebook.html"
TIMEOUT_S = 300


@dataclass(frozen=True)
class NotebookResult:
    ipynb: Path
    html: Path


def load_template() -> Any:
    import jupytext

    return jupytext.reads(TEMPLATE.read_text(encoding="utf-8"), fmt="py:percent")


def inject_parameters(nb: Any, parameters: dict[str, Any]) -> Any:
    """Add an `injected-parameters` cell after the `parameters` cell (at the top when there is none)."""
    import nbformat

    source = "# Parameters\n" + "".join(f"{name} = {value!r}\n" for name, value in parameters.items())
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    nb.cells.insert(tagged[0] + 1 if tagged else 0, cell)
    return nb


def execute_notebook(run_dir: str | Path, *, timeout_s: int = TIMEOUT_S) -> NotebookResult:
    """Execute the template against `run_dir`; write notebook.ipynb and notebook.html there."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from nbconvert import HTMLExporter

    run_dir = Path(run_dir).resolve()
    if not (run_dir / "journal.json").is_file():
        raise InputError(f"{run_dir}: no journal.json here; is this a run directory?")
    nb = inject_parameters(load_template(), {"run_dir": str(run_dir)})
    client = NotebookClient(
        nb, timeout=timeout_s, kernel_name="python3", resources={"metadata": {"path": str(run_dir)}}
    )
    ipynb = run_dir / NOTEBOOK_FILE
    try:
        client.execute()
    except CellExecutionError as exc:
        nbformat.write(nb, ipynb)  # keep the half-run notebook: it shows the failing cell
        raise InputError(f"{run_dir}: the report notebook failed; see {ipynb}: {str(exc).splitlines()[0]}") from None
    nbformat.write(nb, ipynb)
    body, _ = HTMLExporter().from_notebook_node(nb)
    html = run_dir / NOTEBOOK_HTML
    html.write_text(body, encoding="utf-8")
    return NotebookResult(ipynb, html)
