"""The executed notebook and the comparison, end to end on the small synthetic run (a kernel starts)."""

import json
from html.parser import HTMLParser

import nbformat

from harness.cli import main
from harness.report.notebook import inject_parameters, load_template
from tests.unit.analysis.synthetic import write_run
from tests.unit.report.test_html import parse


def test_parameters_go_right_after_the_parameters_cell():
    nb = inject_parameters(load_template(), {"run_dir": "/x"})
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    i = next(i for i, t in enumerate(tags) if "parameters" in t)
    assert tags[i + 1] == ["injected-parameters"]
    assert nb.cells[i + 1].source.endswith("run_dir = '/x'\n")


def test_harness_notebook_executes_and_exports(tmp_path, capfd):
    run_dir = write_run(tmp_path)
    assert main(["notebook", str(run_dir)]) == 0
    out, err = capfd.readouterr()  # the kernel's own output too, not only this process's
    assert str(run_dir / "notebook.html") in out
    assert "without encryption" not in err and "WARNING" not in err
    nb = nbformat.read(run_dir / "notebook.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code)
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    images = [o for c in code for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 7
    html = (run_dir / "notebook.html").read_text()
    HTMLParser().feed(html)
    assert "brownout-availability" in html


def test_the_notebook_page_opens_with_the_question_and_verdict_and_reads_well_offline(tmp_path):
    import re

    run_dir = write_run(tmp_path)
    assert main(["notebook", str(run_dir)]) == 0
    html = (run_dir / "notebook.html").read_text()
    # self-contained: no script, style or image from anywhere else (the page must render offline)
    assert not re.findall(r'(?:src|href)="(?:https?:)?//', html)
    assert "cdnjs" not in html and "require.min.js" not in html
    body = html[html.index("<body") :]
    first = body.index("synthetic: Half of the token calls fail")  # no question: the description stands in
    assert first < body.index("Verdict: FAIL") < body.index("Service level objectives")
    assert "run_dir =" not in body  # the parameter cells are for the kernel, not the reader
    assert "≥ 99%" in body and "at_least" not in body  # thresholds as text, not dicts
    assert "03:20:10.000" in body  # the fault took effect at T0 + 10 s: a time of day, not an epoch number
    assert "1764300010" not in body


def test_harness_compare_writes_a_directory_and_prints_it(tmp_path, capsys):
    a = write_run(tmp_path / "a")
    b = write_run(tmp_path / "b")
    out = tmp_path / "cmp"
    assert main(["compare", str(a), str(b), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    data = json.loads((out / "compare.json").read_text())
    ref, other = data["phases"]["brownout"]
    assert ref["vs_reference"] is None
    assert other["vs_reference"]["availability"]["difference"] == 0.0
    page = parse((out / "compare.html").read_text())
    assert {"verdicts", "compare-baseline", "compare-brownout"} <= set(page.tables)
    assert len(page.images) == 3
    assert sorted(p.name for p in (out / "figures").iterdir()) == ["availability.png", "latency.png", "latency_cdf.png"]


def test_compare_shows_what_differs_first_and_warns_on_different_scenarios(tmp_path, capsys):
    a = write_run(tmp_path / "a")
    b = write_run(tmp_path / "b")
    text = (b / "scenario.yaml").read_text().replace("name: synthetic", "name: synthetic-v2")
    text = text.replace("seed: 7", "seed: 8")
    (b / "scenario.yaml").write_text(text)
    assert main(["compare", str(a), str(b), "--out", str(tmp_path / "cmp")]) == 0
    html = (tmp_path / "cmp" / "compare.html").read_text()
    page = parse(html)
    assert html.index('id="warnings"') < html.index('id="differences"') < html.index('id="verdicts"')
    assert "different scenarios (synthetic, synthetic-v2)" in html
    differences = {r[0]: r[1:] for r in page.tables["differences"][1:]}
    assert differences["seed"] == ["7", "8"]
    same = write_run(tmp_path / "c")
    assert main(["compare", str(a), str(same), "--out", str(tmp_path / "cmp2")]) == 0
    html = (tmp_path / "cmp2" / "compare.html").read_text()
    assert 'id="same-setup"' in html and 'id="warnings"' not in html
