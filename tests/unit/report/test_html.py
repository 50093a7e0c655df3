import base64
from html.parser import HTMLParser

from harness.report.build import build_report
from harness.report.html import render_report
from tests.unit.analysis.synthetic import write_run


class Tables(HTMLParser):
    """Rows of every table by id, the images, and all text."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.images: list[dict[str, str]] = []
        self.ids: set[str] = set()
        self.text: list[str] = []
        self._table: str | None = None  # the id of the table being read
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "table":
            self._table = attrs.get("id")
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = []
        elif tag == "img":
            self.images.append(attrs)
        elif tag in ("script", "link"):
            raise AssertionError(f"self-contained report has a <{tag}>")

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            assert self._table is not None  # a cell is read only inside a table with an id
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def parse(html: str) -> Tables:
    parser = Tables()
    parser.feed(html)
    return parser


def test_slo_table_comes_first_with_the_right_verdicts(built):
    page = parse(built.report_html.read_text(encoding="utf-8"))
    assert next(iter(page.tables)) == "slos"
    head, *rows = page.tables["slos"]
    assert head[:7] == ["SLO", "metric", "scope", "phases", "objective", "observed (95% interval)", "verdict"]
    assert {r[0]: r[6] for r in rows} == {
        "availability": "pass",
        "brownout-availability": "fail",
        "p99": "pass not conclusive",  # p99 of 100 samples: no upper bound, so it may as well be above 300 ms
        "recovery": "pass",
        "retry-amplification": "fail",
        "fail-closed": "pass",
        "cooldown-p95": "no data",
    }
    observed = {r[0]: r[5] for r in rows}
    assert observed["brownout-availability"] == "55%[45.24%, 64.39%] Wilson 95%"
    assert observed["retry-amplification"].startswith("1.9 attempts/op[")
    brownout = next(r for r in rows if r[0] == "brownout-availability")
    assert brownout[4] == "≥ 99%"


def test_one_embedded_png_per_figure(built):
    page = parse(built.report_html.read_text(encoding="utf-8"))
    assert len(page.images) == 7
    for image in page.images:
        prefix = "data:image/png;base64,"
        assert image["src"].startswith(prefix)
        assert base64.b64decode(image["src"][len(prefix) :]).startswith(b"\x89PNG\r\n\x1a\n")
        assert image["alt"]


def test_phase_and_fault_tables(built):
    page = parse(built.report_html.read_text(encoding="utf-8"))
    phases = {r[0]: r for r in page.tables["phases"][1:]}
    assert list(phases) == ["baseline", "brownout", "recovery", "cooldown"]
    assert phases["brownout"][3] == "http_error 503 p=0.5 token"
    assert phases["brownout"][4:6] == ["100", "190"]
    assert phases["brownout"][6:8] == ["28.95%", "55%[45.24%, 64.39%]"]  # attempts 55/190 ok; operations
    assert phases["brownout"][13] == "http_5xx: 45, ok: 55"
    head, (fault,) = page.tables["faults"][0], page.tables["faults"][1:]
    row = dict(zip(head, fault, strict=True))
    assert row["fault"] == "brownout.0"
    assert (row["applied (s)"], row["removed (s)"], row["lateness (ms)"]) == ("+10.000", "+20.000", "10")
    assert (row["time to detect (s)"], row["time to recover (s)"], row["recovered"]) == ("1", "2", "yes")


def test_journal_events_and_rollback_are_shown_escaped(built):
    html = built.report_html.read_text(encoding="utf-8")
    assert "<b>synthetic</b>" not in html
    assert "&lt;b&gt;synthetic&lt;/b&gt; &amp; co" in html
    page = parse(html)
    assert ["-2.000", "run_start", "<b>synthetic</b> & co"] in page.tables["events"]
    assert page.tables["rollback"][1][1:] == ["proxy reset", "ok", "2 toxics removed"]
    assert "incomplete" not in page.ids


def test_an_incomplete_run_is_marked_at_the_top(tmp_path):
    result = build_report(write_run(tmp_path, records=False, status="crashed"))
    html = result.report_html.read_text(encoding="utf-8")
    page = parse(html)
    assert "incomplete" in page.ids
    assert html.index('id="incomplete"') < html.index('id="slos"')
    assert "Incomplete run." in html and "no records" in html


def test_everything_from_the_summary_is_escaped():
    summary = {
        "scenario": {"name": "<script>x</script>", "description": "a & b"},
        "verdict": "pass",
        "complete": True,
        "slos": [{"name": "<i>", "threshold": {"at_most": 1}, "verdict": "pass", "message": "<m>"}],
    }
    html = render_report(summary, {})
    assert "<script>" not in html and "<i>" not in html and "<m>" not in html
    assert "&lt;script&gt;" in html


def test_summary_comes_first_then_phases_then_flows(built):
    html = built.report_html.read_text(encoding="utf-8")
    order = ['id="summary"', 'id="headline"', 'id="slos"', 'id="fault-story"', 'id="faults"',
             'id="error-budget"', 'id="figures"', 'id="phases"', 'id="phase-baseline"', 'id="phase-brownout"',
             'id="flows"', 'id="flow-section-client_credentials"', 'id="events"']  # fmt: skip
    positions = [html.index(marker) for marker in order]
    assert positions == sorted(positions)


def test_headline_cards_and_fault_story(built):
    page = parse(built.report_html.read_text(encoding="utf-8"))
    text = " ".join(page.text)
    assert "SLOs held" in text and "4 / 7" in text
    assert "worst p99 (ms), brownout" in text
    assert "operation availability changed by -0.45" in text
    assert "Injected: not measured (configured 50%)" in text


def test_error_budget_and_vs_baseline_tables(built):
    page = parse(built.report_html.read_text(encoding="utf-8"))
    budget = {r[0]: r for r in page.tables["error-budget"][1:]}
    assert budget["brownout-availability"][3:] == ["99%", "100", "45", "1", "4500%"]
    vs = {r[0]: r for r in page.tables["vs-baseline-brownout"][1:]}
    assert vs["availability (operation)"][1] == "-0.45"
    assert vs["p99 latency (ms)"][1] == "+900"
    # the latencies each side's test drew on (all of them here; a seeded sample of 200,000 past that)
    assert vs["latency shift (Cliff's delta)"][5] == "mann_whitney_u on 100 / 100 latencies"
    assert "vs-baseline-baseline" not in page.tables


def test_per_phase_and_per_flow_breakdowns(built):
    page = parse(built.report_html.read_text(encoding="utf-8"))
    head, (row,) = page.tables["breakdown-brownout"][0], page.tables["breakdown-brownout"][1:]
    cells = dict(zip(head, row, strict=True))
    assert (cells["flow"], cells["step"], cells["operations"]) == ("client_credentials", "token", "100")
    assert cells["attempt statuses"] == "200: 55, 503: 135"
    flow = page.tables["flow-client_credentials"]
    assert [r[1] for r in flow[1:]] == ["baseline", "brownout", "recovery", "all"]
