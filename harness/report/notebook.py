"""`harness notebook RUN_DIR`: the report notebook executed against a run, as `.ipynb` and `.html`.

The template is a jupytext percent-format file kept in the package (`notebook_template.py`), so it diffs
and reviews like code. Parameters are injected the way papermill does it: a cell tagged
`injected-parameters` right after the one tagged `parameters`. nbclient executes it in a Python kernel
whose working directory is the run directory, reached over IPC (a Unix socket: no TCP port, so nothing to
eavesdrop on and no ipykernel warning about it); nbconvert exports the executed notebook to HTML with
`notebook_offline.html.j2`: self-contained, no script from a CDN, the parameter cells and the code of
cells tagged `hide-input` left out, so the page opens with the scenario's question and the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import InputError

TEMPLATE = Path(__file__).with_name("notebook_template.py")
HTML_TEMPLATE = Path(__file__).with_name("notebook_offline.html.j2")
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
    import shutil
    import tempfile

    import nbformat
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    run_dir = Path(run_dir).resolve()
    if not (run_dir / "journal.json").is_file():
        raise InputError(f"{run_dir}: no journal.json here; is this a run directory?")
    nb = inject_parameters(load_template(), {"run_dir": str(run_dir)})
    # IPC sockets live in a private scratch directory (a run directory may be published as it is)
    sockets = tempfile.mkdtemp(prefix="harness-kernel-")
    manager = KernelManager(kernel_name="python3", transport="ipc", ip=str(Path(sockets) / "kernel"))
    client = NotebookClient(
        nb, km=manager, timeout=timeout_s, kernel_name="python3", resources={"metadata": {"path": str(run_dir)}}
    )
    ipynb = run_dir / NOTEBOOK_FILE
    try:
        client.execute()
    except CellExecutionError as exc:
        nbformat.write(nb, ipynb)  # keep the half-run notebook: it shows the failing cell
        raise InputError(f"{run_dir}: the report notebook failed; see {ipynb}: {str(exc).splitlines()[0]}") from None
    finally:
        if manager.has_kernel:  # a kernel manager we made is ours to stop (nbclient stops only its own)
            manager.shutdown_kernel(now=False)
        shutil.rmtree(sockets, ignore_errors=True)
    nbformat.write(nb, ipynb)
    html = run_dir / NOTEBOOK_HTML
    html.write_text(export_html(nb), encoding="utf-8")
    return NotebookResult(ipynb, html)


def export_html(nb: Any) -> str:
    """The executed notebook as one offline page (see the module docstring)."""
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    exporter = HTMLExporter(
        template_name="lab", template_file=HTML_TEMPLATE.name, extra_template_paths=[str(HTML_TEMPLATE.parent)]
    )
    exporter.register_preprocessor(
        TagRemovePreprocessor(
            remove_cell_tags={"parameters", "injected-parameters"}, remove_input_tags={"hide-input"}, enabled=True
        ),
        enabled=True,
    )
    body: str = exporter.from_notebook_node(nb)[0]
    return body
