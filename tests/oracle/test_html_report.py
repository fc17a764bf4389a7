"""The HTML report (--html FILE): its pictures' arithmetic, its marks, what it contains and what
it must not (scripts, anything fetched), its size on large failures, and the commands that write
it. How it looks and behaves in a real browser: tests/browser/."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import numpy as np
import pytest

import manual_bp as mb
from bp_oracle.check import check_implementation
from bp_oracle.html_report import failing_cases as html_cases
from bp_oracle.html_report import check_page, pictures
from bp_oracle.report import to_json
from bp_oracle.tolerance import Comparison, Tolerance
from bp_spec import Network
from broken_backprops import BROKEN


def _with_deltas(fn):
    def answer(net, params, x, y):
        t = fn(net, params, x, y)
        return {"grads": t.grads, "deltas": t.delta}
    return answer


def _grads_only(fn):
    return lambda net, params, x, y: fn(net, params, x, y).grads


@pytest.fixture(scope="module")
def bp2_report():
    """The quick suite against BP2 with σ'(a^l) for σ'(z^l), deltas sent."""
    return check_implementation(_with_deltas(BROKEN["sigma_prime_of_a_in_bp2"][0]), "quick")


class Cells(HTMLParser):
    """Rows of the table with class `cls`: {data-feature: [cell texts]}."""

    def __init__(self, cls: str):
        super().__init__()
        self.cls, self.inside, self.rows, self.row, self.cell = cls, False, {}, None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("class") == self.cls:
            self.inside = True
        elif self.inside and tag == "tr" and "data-feature" in attrs:
            self.row = attrs["data-feature"]
            self.rows[self.row] = []
        elif self.inside and tag == "td" and self.row:
            self.cell = ""

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data

    def handle_endtag(self, tag):
        if tag == "td" and self.cell is not None:
            self.rows[self.row].append(self.cell)
            self.cell = None
        elif tag == "table":
            self.inside = False


# --- the pictures' arithmetic ------------------------------------------------------------------


def test_ratios_are_the_error_over_the_tolerance_with_nan_and_inf_kept():
    got = np.array([[1.0, 2.0], [np.nan, np.inf]])
    expected = np.array([[1.0, 1.5], [0.0, 0.0]])
    r = pictures.ratios(got, expected, bound=0.25)
    assert r[0, 0] == 0 and r[0, 1] == 2.0 and math.isnan(r[1, 0]) and r[1, 1] == np.inf
    assert list(pictures.ratios(np.array([1.0, 2.0]), np.array([1.0, 1.0]), 0.0)) == [0.0, np.inf]


def test_a_large_tensor_is_shown_in_blocks_each_its_worst_entry_nan_first():
    grid = np.zeros((100, 70))
    grid[37, 5] = -50.0
    grid[90, 69] = 3.0
    grid[91, 69] = np.nan  # the same block as the 3.0: NaN is worse
    shown, br, bc = pictures.blocks(grid)
    assert shown.shape[0] <= pictures.MAX_CELLS and shown.shape[1] <= pictures.MAX_CELLS
    assert shown[37 // br, 5 // bc] == -50.0  # the sign is kept
    assert math.isnan(shown[91 // br, 69 // bc])
    assert np.count_nonzero(np.nan_to_num(shown, nan=1.0)) == 2
    small = np.arange(6.0).reshape(2, 3)
    assert pictures.blocks(small)[0] is small


def test_colours_and_glyphs_say_within_above_below_nan_and_inf():
    assert pictures.colour(0.5) == pictures.colour(-1.0) == "#f3f3f3"
    assert pictures.colour(10.0) != pictures.colour(-10.0) != pictures.colour(1e6)
    assert pictures.colour(1e6) == pictures.colour(1e12) == pictures.colour(np.inf)  # saturated
    assert [pictures.glyph(r) for r in (0.3, 5.0, -5.0, np.nan, -np.inf)] == ["", "+", "−", "?", "∞"]


def test_a_heatmap_marks_every_entry_beyond_the_tolerance_and_outlines_the_worst():
    expected = np.zeros((3, 4))
    got = expected.copy()
    got[1, 2], got[2, 0] = 5.0, -0.5
    svg = pictures.heatmap(pictures.ratios(got, expected, 1.0), "rows", "columns", worst=(1, 2))
    assert svg.count('class="beyond"') == 1 and 'data-beyond="1"' in svg
    assert ">+</text>" in svg and 'class="worst"' in svg
    ET.fromstring(svg)  # well-formed


# --- the marks of the layer diagram ------------------------------------------------------------


def _case(wrong, sent=("grads",), sizes=(2, 3, 3, 2)):
    net = Network(sizes, ("sigmoid",) * (len(sizes) - 1), "quadratic")
    return html_cases.FailingCase("c", net, 2, "float64", Tolerance(1e-9, 1e-12), sent, wrong, "head")


def _wrong(quantity, layer, equation, root=False, inferred=False):
    return html_cases.WrongTensor(quantity, layer, equation, Comparison(False, 1.0, 1e-9, (0,), 1.0, 0.0),
                                  root=root, inferred=inferred)


def test_bp2_inferred_from_the_bias_gradient_marks_delta_root_and_the_gradients_wrong():
    marks = {(m.layer, m.column): m for m in html_cases.marks(_case(
        [_wrong("dC/db", 2, "BP2", root=True, inferred=True), _wrong("dC/db", 1, "BP3"), _wrong("dC/dW", 2, "BP4")]))}
    assert marks[(2, "delta")].status == pictures.ROOT and "inferred" in marks[(2, "delta")].note
    assert marks[(2, "delta")].equation == "BP2" and marks[(3, "delta")].equation == "BP1"
    assert marks[(2, "dC/db")].status == marks[(1, "dC/db")].status == marks[(2, "dC/dW")].status == pictures.WRONG
    assert marks[(3, "dC/db")].status == marks[(1, "dC/dW")].status == pictures.OK
    assert marks[(1, "delta")].status == marks[(1, "forward")].status == marks[(None, "forward")].status == \
        pictures.NOT_SENT


def test_sent_quantities_judged_right_are_ok_and_a_wrong_cost_marks_the_cost():
    marks = {(m.layer, m.column): m for m in html_cases.marks(_case(
        [_wrong("cost", None, "forward", root=True)], sent=("z", "a", "cost", "delta", "grads")))}
    assert marks[(None, "forward")].status == pictures.ROOT
    assert all(m.status == pictures.OK for k, m in marks.items() if k != (None, "forward"))


# --- the check page ------------------------------------------------------------------------------


def test_the_page_of_a_planted_bug_shows_its_root_cause_at_bp2_and_counts_as_the_json_does(bp2_report):
    page = check_page.render(bp2_report, "bp-oracle check …")
    assert not bp2_report.ok and "DOES NOT CONFORM" in page
    first = re.search(r'<section class="case".*?</section>', page, re.S).group(0)
    assert 'class="mark root" data-equation="BP2"' in first
    assert 'data-quantity="delta"' in first and 'data-root="true"' in first and 'class="heatmap"' in first
    parser = Cells("coverage")
    parser.feed(page)
    coverage = to_json(bp2_report)["coverage"]
    for feature, counts in coverage.items():
        assert [int(c) for c in parser.rows[feature][1:6]] == [counts[k] for k in ("judged", "PASS", "FAIL", "ERROR",
                                                                                     "SKIP")]
        assert (parser.rows[feature][6] == check_page.FAILING) == bool(counts["FAIL"] or counts["ERROR"])
    assert set(parser.rows) == set(coverage) | {"dtype:float64"}


def test_the_page_is_self_contained_deterministic_and_well_formed_svg(bp2_report):
    page = check_page.render(bp2_report, "cmd")
    assert page == check_page.render(bp2_report, "cmd")
    assert "<script" not in page and not re.search(r'(src|href)="(https?:)?//', page)
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    for svg in re.findall(r"<svg.*?</svg>", page, re.S):
        ET.fromstring(svg)


def test_a_passing_run_says_it_conforms_and_lists_no_failing_case():
    report = check_implementation(mb.backprop, "quick", include=["depth:1"])
    page = check_page.render(report, "cmd")
    assert report.ok and "✓ CONFORMS" in page and '<section class="case"' not in page
    assert f"<b>{report.count('PASS')}</b>PASS" in page


def test_a_feature_never_judged_says_so_in_the_coverage_table():
    def unsupported(net, params, x, y):
        if "relu" in net.activations:
            raise NotImplementedError("no relu")
        return mb.backprop(net, params, x, y)
    report = check_implementation(unsupported, "quick", allow_skip=True)
    parser = Cells("coverage")
    parser.feed(check_page.render(report, "cmd"))
    assert parser.rows["activation:relu"][6] == check_page.UNJUDGED and parser.rows["activation:relu"][1] == "0"
    assert parser.rows["activation:tanh"][6].startswith("✓ right")


def test_errors_are_collapsed_by_message_and_listed(tmp_path):
    def raises(net, params, x, y):
        raise RuntimeError("out of memory")
    page = check_page.render(check_implementation(raises, "quick"), "cmd")
    assert page.count("raised RuntimeError: out of memory") == 1 and 'id="errors"' in page


def test_what_an_implementation_says_is_shown_as_text_never_as_markup():
    def raises(net, params, x, y):
        raise RuntimeError('</td></table><script>alert("x")</script><img src=x onerror=alert(1)>')
    report = check_implementation(raises, "quick", include=["depth:1"])
    page = check_page.render(report, '--impl "<b>cmd</b>"')
    assert "<script" not in page and "<img" not in page and "<b>cmd" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page


def test_a_full_suite_of_large_failures_stays_a_few_megabytes_with_the_rest_listed():
    rng = np.random.default_rng(0)
    net = Network((200, 200, 10), ("sigmoid", "sigmoid"), "quadratic")
    big = [_wrong("dC/dW", 1, "BP4", root=True)] * 4
    for w in big:
        w.got, w.expected = rng.normal(size=(200, 200)), np.zeros((200, 200))
    failing = [html_cases.FailingCase(f"full-{i:04d}", net, 8, "float64", Tolerance(1e-9, 1e-12),
                                      ("grads",), big, "head") for i in range(2000)]
    parts = check_page.failures(failing)
    text = "".join(parts)
    shown = text.count('<section class="case"')
    assert 1 <= shown < html_cases.FULL_CASES and len(text) < 2 * html_cases.BYTE_BUDGET
    assert f"{2000 - shown} more, listed" in text and 'id="case-full-1999"' in text


# --- the commands that write it ------------------------------------------------------------------


def test_check_html_is_written_named_on_the_console_and_in_junit(run_cli, tmp_path):
    import sys
    from pathlib import Path

    example = Path(__file__).parents[2] / "scripts" / "examples" / "buggy_backprop.py"
    html, junit = tmp_path / "r.html", tmp_path / "r.xml"
    code, out, _ = run_cli("check", "--impl", f"{sys.executable} {example} --bug sum_for_mean", "--suite",
                           "quick", "--include", "depth:1", "--no-progress", "--html", html, "--junit", junit)
    assert code == 1 and f"HTML report: {html}" in out
    props = {p.get("name"): p.get("value") for p in ET.parse(junit).iter("property")}
    assert props["html_report"] == str(html)
    page = html.read_text()
    assert "DOES NOT CONFORM" in page and 'data-equation="BP3"' in page and "--include depth:1" in page


@pytest.mark.slow
def test_verify_html_draws_the_failing_networks_and_embeds_both_plots(run_cli, tmp_path):
    html = tmp_path / "v.html"
    code, out, _ = run_cli("verify", "--cases", "12", "--no-progress", "--backprop",
                           "broken_backprops:BROKEN", "--html", html)
    assert code == 2  # not a function: bad input, and no page
    assert not html.exists()
    backprop = tmp_path / "bad.py"
    backprop.write_text("from broken_backprops import BROKEN\nbackprop = BROKEN['sum_for_mean_in_bp3'][0]\n")
    code, out, _ = run_cli("verify", "--cases", "12", "--no-progress", "--backprop", f"{backprop}:backprop",
                           "--html", html)
    page = html.read_text()
    assert code == 1 and f"HTML report: {html}" in out and "✗ DISAGREES" in page
    assert page.count('src="data:image/png;base64,') == 2
    assert 'class="mark root" data-equation="BP3"' in page and "replay: bp-oracle verify --replay 0:" in page
    # the command as given, even when main() is called in-process (sys.argv is pytest's here)
    import html as entities
    assert entities.escape(f"bp-oracle verify --cases 12 --no-progress --backprop {backprop}:backprop") in page


@pytest.mark.parametrize("argv, message", [
    (("verify", "--replay", "0:1", "--html", "{tmp}/v.html"), "--html writes a sweep's networks"),
    (("verify", "--html", "{tmp}/no/such/folder/v.html"), "does not exist"),
    (("check", "--impl", "true", "--html", "{tmp}"), "it is a folder"),
])
def test_a_bad_html_destination_is_one_line_and_exit_2(run_cli, tmp_path, argv, message):
    code, out, err = run_cli(*[a.format(tmp=tmp_path) for a in argv])
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("flag", ["--html", "--report"])
def test_verify_plots_without_matplotlib_are_one_line_and_exit_2(run_cli, tmp_path, monkeypatch, flag):
    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)  # as where the plots extra is missing
    code, out, err = run_cli("verify", "--cases", "4", flag, tmp_path / "out")
    assert code == 2 and 'pip install -e ".[plots]"' in err and len(err.strip().splitlines()) == 1


def test_the_pytest_fixture_writes_a_page_per_check_and_names_it(tmp_path):
    from bp_oracle.pytest_plugin import BpOracle

    class Node:
        nodeid = "tests/test_mine.py::test_backprop[relu]"
        user_properties: list = []

    node = Node()
    node.user_properties = []
    oracle = BpOracle(node=node, html_dir=str(tmp_path / "pages"))
    oracle.check(mb.backprop, include=["depth:1"])
    with pytest.raises(AssertionError, match="HTML report: .*test_backprop_relu-2.html"):
        oracle.check(_grads_only(BROKEN["sum_for_mean_in_bp3"][0]), include=["depth:1"])
    first = tmp_path / "pages" / "tests_test_mine.py_test_backprop_relu.html"
    second = tmp_path / "pages" / "tests_test_mine.py_test_backprop_relu-2.html"
    assert "✓ CONFORMS" in first.read_text() and "DOES NOT CONFORM" in second.read_text()
    assert "pytest tests/test_mine.py::test_backprop[relu]" in first.read_text()
    assert [value for key, value in node.user_properties if key == "bp-oracle-html"] == [str(first), str(second)]
