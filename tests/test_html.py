"""The HTML reports, as a person sees them: opened in headless Chromium.

- `adgrade check SUB -a A --format html -o report.html`: one self-contained page (no script, no
  request), every untrusted string escaped, a heat map for a failed array, a timing plot.
- `adgrade report OUT`: the class page after `adgrade grade` (histogram, pass rates, failures,
  students with anchors).

The browser tests read the DOM Chromium built (`--dump-dom`) and take two screenshots, the page and
the page with every image colour-inverted: the pixels that differ are exactly where images were
drawn, so each <img> is found on screen, checked to have been decoded at its size, and checked to
hold a plot (many colours), not an empty box or a broken-image icon. In CI (env CI set) a missing
chromium fails these tests instead of skipping them.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from conftest import FIXTURES, run_cli

from adgrade.batch import report_from_dict
from adgrade.report import FORMATS, renderer
from adgrade.report import plots
from adgrade.report.html import render_html
from adgrade.results import CheckResult, ProblemResult, Report

HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>"


# ----------------------------------------------------------------------------- helpers

class _Page(HTMLParser):
    """Elements by id (their text), every <img>'s attributes, every tag name and every href/src."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.images: list[dict[str, str]] = []
        self.links: list[str] = []
        self.ids: dict[str, list[str]] = {}
        self._open: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        self.tags.append(tag)
        if tag == "img":
            self.images.append(a)
        for key in ("href", "src"):
            if key in a:
                self.links.append(a[key])
        if tag not in ("img", "meta", "br", "link", "input"):
            self._open.append((tag, a.get("id")))
            if a.get("id"):
                self.ids.setdefault(a["id"], [])

    def handle_endtag(self, tag):
        while self._open:
            t, _ = self._open.pop()
            if t == tag:
                break

    def handle_data(self, data):
        self.text.append(data)
        for _, ident in self._open:
            if ident:
                self.ids[ident].append(data)

    def text_of(self, ident: str) -> str:
        return re.sub(r"\s+", " ", "".join(self.ids.get(ident, []))).strip()

    def all_text(self) -> str:
        return re.sub(r"\s+", " ", "".join(self.text))


def parse(markup: str) -> _Page:
    page = _Page()
    page.feed(markup)
    return page


def png_of(uri: str) -> bytes:
    assert uri.startswith("data:image/png;base64,"), uri[:60]
    data = base64.b64decode(uri.split(",", 1)[1], validate=True)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return data


def chromium() -> str:
    found = shutil.which("chromium")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed, and CI is set: install it (apt-get install chromium); "
                    "the HTML report tests must run in CI")
    pytest.skip("chromium is not installed (apt-get install chromium)")


def browse(page: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"chromium-profile-{len(list(tmp_path.glob('chromium-profile-*')))}"
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--hide-scrollbars", "--force-device-scale-factor=1", f"--user-data-dir={profile}", *args,
           page.resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"chromium failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
    return proc


def dump_dom(page: Path, tmp_path: Path) -> str:
    return browse(page, tmp_path, "--dump-dom").stdout


def screenshot(page: Path, tmp_path: Path, name: str, height: int) -> np.ndarray:
    from PIL import Image

    out = tmp_path / f"{name}.png"
    browse(page, tmp_path, f"--screenshot={out}", f"--window-size=1200,{height}")
    assert out.is_file(), "chromium wrote no screenshot"
    return np.asarray(Image.open(out).convert("RGB")).astype(np.int16)


def _runs(mask_1d: np.ndarray, gap: int = 3) -> list[tuple[int, int]]:
    """[start, end) runs of True, bridging gaps of up to GAP."""
    idx = np.flatnonzero(mask_1d)
    if idx.size == 0:
        return []
    runs, start, last = [], idx[0], idx[0]
    for i in idx[1:]:
        if i - last > gap + 1:
            runs.append((start, last + 1))
            start = i
        last = i
    runs.append((start, last + 1))
    return runs


def image_regions(page: Path, tmp_path: Path, height: int) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """The screenshot of PAGE, and the boxes (top, left, bottom, right) where its images were drawn,
    in reading order: the pixels that change when every image is colour-inverted."""
    shot = screenshot(page, tmp_path, page.stem, height)
    inverted = page.with_name(page.stem + "-inverted.html")
    inverted.write_text(page.read_text(encoding="utf-8").replace(
        "</head>", "<style>img { filter: invert(1) !important; }</style></head>", 1), encoding="utf-8")
    other = screenshot(inverted, tmp_path, inverted.stem, height)
    diff = np.abs(shot - other).sum(axis=2) > 30
    boxes = []
    for top, bottom in _runs(diff.any(axis=1)):
        for left, right in _runs(diff[top:bottom].any(axis=0)):
            rows = _runs(diff[top:bottom, left:right].any(axis=1))
            boxes.append((top + rows[0][0], left, top + rows[-1][1], right))
    return shot, boxes


def distinct_colors(pixels: np.ndarray) -> int:
    flat = pixels.reshape(-1, 3).astype(np.int64)
    return len(np.unique(flat[:, 0] * 65536 + flat[:, 1] * 256 + flat[:, 2]))


def assert_images_drawn(page: Path, tmp_path: Path, markup: str, height: int, min_colors: int = 40) -> list:
    """Every <img> of the page is on screen, at the size its PNG has, and shows a plot."""
    images = parse(markup).images
    shot, boxes = image_regions(page, tmp_path, height)
    assert not (np.abs(shot[-5:] - 255).sum(axis=2) > 30).any(), "the page is taller than the window"
    assert len(boxes) == len(images), f"{len(images)} <img> in the page, {len(boxes)} drawn: {boxes}"
    crops = []
    for img, (top, left, bottom, right) in zip(images, boxes):
        png = png_of(img["src"])
        width, height_px = plots.png_size(png)
        drawn_w, drawn_h = right - left, bottom - top
        # drawn at its own size, or scaled down to fit the page: same aspect ratio
        assert drawn_w <= width + 2 and drawn_w > 0.5 * width, (img.get("alt"), drawn_w, width)
        assert abs(drawn_h / drawn_w - height_px / width) < 0.03, (img.get("alt"), drawn_w, drawn_h, width, height_px)
        crop = shot[top:bottom, left:right]
        assert distinct_colors(crop) >= min_colors, (img.get("alt"), distinct_colors(crop))
        assert (np.abs(crop - 255).sum(axis=2) > 30).mean() > 0.05, f"{img.get('alt')}: almost blank"
        crops.append((img.get("alt", ""), crop))
    return crops


# ----------------------------------------------------------------------------- a hand-made report

def sample_report() -> Report:
    """A failed 2-D comparison with NaN, a timing check with sizes, one without, hostile text everywhere."""
    expected = np.outer(np.linspace(-1, 1, 6), np.linspace(0.5, 2, 5))
    actual = expected.copy()
    actual[1:3, 2:4] *= -1
    actual[5, 4] = np.nan
    r = Report(assignment="demo", submission=f"students/{HOSTILE}.py", duration_s=2.0,
               output=f"printed {HOSTILE}\x00\ud800 done")
    p1 = ProblemResult("q1", f"Outer {HOSTILE}", False, 3.0)
    p1.checks = [
        CheckResult("`outer` matches at 3 points", "failed", 0.0, 2.0,
                    f"`outer` is wrong.\nAt 0.5: {HOSTILE}\nLikely cause: sign flipped.", kind="value",
                    details={"leaf": "", "failure": "value", "index": [1, 2], "actual": float(actual[1, 2]),
                             "expected": float(expected[1, 2]), "abs_err": 1.0, "rel_err": 2.0, "rtol": 1e-7,
                             "atol": 1e-9, "_actual": actual, "_expected": expected}),
        CheckResult("hidden one", "passed", 1.0, 1.0, hidden=True, kind="value"),
    ]
    p1.notes = [f"note {HOSTILE}"]
    p2 = ProblemResult("q2", "Timing", False, 2.0)
    p2.checks = [
        CheckResult("reverse scales better", "passed", 1.0, 1.0, "time grows more slowly", kind="timing",
                    details={"labels": ["reverse", "forward"], "better": "reverse", "sizes": [32, 128, 512, 2048],
                             "size_names": ["32", "128", "512", "2048"],
                             "times": {"reverse": [2e-4, 2.1e-4, 2.3e-4, 2.6e-4],
                                       "forward": [3e-4, 1e-3, 4e-3, 1.6e-2]},
                             "times_ci": {"reverse": [[1.9e-4, 2.1e-4]] * 4,
                                          "forward": [[2.8e-4, 3.2e-4], None, [3.8e-3, 4.2e-3], [1.5e-2, 1.7e-2]]},
                             "exponents": {"reverse": 0.06, "forward": 0.99}}),
        CheckResult("a ratio", "inconclusive", 1.0, 1.0, "too noisy", kind="timing",
                    details={"labels": ["a", "b"], "better": "a", "sizes": None,
                             "times": {"a": [1e-3], "b": [1.1e-3]}}),
    ]
    p3 = ProblemResult("q3", "Bonus", True, 1.0)
    p3.checks = [CheckResult("scalar", "error", 0.0, 1.0, f"ValueError: {HOSTILE}", kind="value",
                             details={"_actual": np.float64(1.0), "_expected": np.float64(2.0)})]
    r.problems = [p1, p2, p3]
    r.notes = [f"report note {HOSTILE}"]
    r.hidden_not_run = 2
    return r


def test_html_is_a_registered_format():
    assert FORMATS["html"] == "adgrade.report.html:render_html"
    assert renderer("html") is render_html


def test_html_page_is_self_contained_and_escapes_everything():
    markup = render_html(sample_report())
    page = parse(markup)
    assert markup.startswith("<!DOCTYPE html>")
    assert "script" not in page.tags and "iframe" not in page.tags and "link" not in page.tags
    # no request of any kind: every src is a data: URI, every href an anchor
    for target in page.links:
        assert target.startswith(("data:image/png;base64,", "#")), target[:80]
    assert "url(" not in markup and "@import" not in markup
    assert "Content-Security-Policy" in markup
    # the untrusted strings are text, never markup
    assert "<script>alert" not in markup and "<img src=x" not in markup
    assert markup.count(html.escape(HOSTILE)) >= 5
    text = page.all_text()
    for where in ("students/", "Outer ", "At 0.5: ", "note ", "report note ", "ValueError: ", "printed "):
        assert where + HOSTILE in text, where
    assert "\x00" not in markup and "\ufffd" in markup
    markup.encode("utf-8")  # lone surrogates would make it unwritable
    # what a person looks for
    assert page.text_of("score") == "3 / 5"
    assert page.text_of("status") == "failed"
    for pid in ("problem-q1", "problem-q2", "problem-q3"):
        assert pid in page.ids
    assert "2 hidden check(s) were not run here" in text
    # images: the heat map and two timing plots (the scalar gets no heat map); decodable PNGs
    alts = [img["alt"] for img in page.images]
    assert alts == ["heat map of the error", "timing plot", "timing plot"], alts
    for img in page.images:
        width, height = plots.png_size(png_of(img["src"]))
        assert (int(img["width"]), int(img["height"])) == (width, height)
        assert width >= 300 and height >= 150


def test_html_printed_to_a_ci_log_carries_no_workflow_command():
    """`check --format html` without -o prints the page: student text must not steer a CI runner."""
    r = sample_report()
    r.problems[0].checks[0].message = "wrong\n::set-output name=score::100\n  ::add-mask::x\nsee ##[error]forged"
    r.output = "::stop-commands::token\n"
    markup = render_html(r)
    assert "::" not in markup and "##[" not in markup
    text = parse(markup).all_text()
    assert "::set-output name=score::100" in text and "##[error]forged" in text  # what a reader sees is unchanged


def test_html_from_a_json_report_has_no_heat_map_but_the_timing_plots():
    data = json.loads(json.dumps(sample_report().to_dict()))
    assert "_actual" not in json.dumps(data)
    page = parse(render_html(report_from_dict(data)))
    assert [img["alt"] for img in page.images] == ["timing plot", "timing plot"]
    assert "0.75" in page.text_of("problem-q1")  # the worst element's table comes from plain details


def test_plot_helpers_refuse_what_they_cannot_draw():
    assert plots.heatmap_png(np.float64(1.0), np.float64(2.0)) is None
    assert plots.heatmap_png(np.array(["a", "b"]), np.array(["a", "c"])) is None
    assert plots.heatmap_png(np.zeros((2, 3)), np.zeros((4, 5))) is None
    assert plots.timing_png({}) is None and plots.timing_png({"times": {"a": [None]}}) is None
    assert plots.histogram_png([]) is None and plots.pass_rate_png([]) is None
    # a big array is pooled, not skipped; n-D arrays are drawn as 2-D
    big = np.zeros((900, 700))
    wrong = big.copy()
    wrong[450, 3] = 1.0
    assert plots.png_size(plots.heatmap_png(wrong, big, index=[450, 3]))[0] > 200
    assert plots.heatmap_png(np.ones((2, 3, 4)), np.zeros((2, 3, 4))) is not None


def test_class_page_from_odd_reports():
    """A student with nothing gradable, a grader failure, a bonus problem, hostile ids and messages."""
    from adgrade.batch import summarize
    from adgrade.report.class_html import render_class_html

    ok = sample_report().to_dict()
    nothing = Report(assignment="demo", submission="", error=f"no .py or .ipynb handed in: {HOSTILE}").to_dict()
    lost = dict(ok, grader_error=f"worker lost {HOSTILE}")
    reports = {"ok": ok, "nothing": nothing, 'x"><b>y': lost}
    markup = render_class_html(summarize(reports), reports)
    page = parse(markup)
    assert "<script>alert" not in markup and '"><b>' not in markup
    assert {"student-ok", "student-nothing", "student-x___b_y"} <= set(page.ids)
    assert f"no .py or .ipynb handed in: {HOSTILE}" in page.text_of("student-nothing")
    assert f"worker lost {HOSTILE}" in page.text_of("student-x___b_y")
    assert [img["alt"] for img in page.images] == ["score histogram", "pass rate per problem"]
    for target in page.links:
        assert target.startswith(("data:image/png;base64,", "#", "reports/")), target[:80]
    # no reports at all still gives a page (the CLI refuses earlier, with exit code 2)
    assert parse(render_class_html(summarize({}), {})).images == []


def test_error_map_marks_what_is_outside_the_tolerance():
    expected = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, np.inf]])
    actual = np.array([[1.0 + 1e-12, 2.5, np.nan], [4.0, -5.0, np.inf]])
    errors = plots.error_map(actual, expected, rtol=1e-7, atol=1e-9)
    assert np.isnan(errors[0, 0]) and np.isnan(errors[1, 0]) and np.isnan(errors[1, 2])  # within / same inf
    assert errors[0, 1] == pytest.approx(0.5) and errors[1, 1] == pytest.approx(10.0)
    assert np.isposinf(errors[0, 2])  # NaN where a number was expected


# ----------------------------------------------------------------------------- in the browser

PROBLEM_SET = """
[assignment]
name = "htmldemo"
title = "HTML report demo"
backend = "numpy"
time_limit = 20
setup_time_limit = 30

[[problems]]
id = "p1"
title = "Outer product"
points = 2
entries = ["outer"]
[problems.cells]
markers = ["p1"]

  [[problems.checks]]
  kind = "value"
  entry = "outer"
  expected = "outer_ref"
  inputs = "outer_inputs"

[[problems]]
id = "p2"
title = "Square"
points = 1
entries = ["square"]
[problems.cells]
markers = ["p2"]

  [[problems.checks]]
  kind = "value"
  entry = "square"
  expected = "square_ref"
  inputs = [[1.5], [-2.0]]

[[problems]]
id = "p3"
title = "Sum against outer"
points = 1
entries = ["by_sum", "by_outer"]
[problems.cells]
markers = ["p3"]

  [[problems.checks]]
  kind = "timing"
  entries = [{ label = "sum", entry = "by_sum" }, { label = "outer", entry = "by_outer" }]
  inputs = "scaling_inputs"
  scaling = [64, 256, 1024]
  scored = false
  budget = 0.3
"""

FUNCTIONS = """
import numpy as np

def outer_ref(xp, x, y):
    return xp.outer(x, y)

def outer_inputs(rng):
    return [(np.linspace(-1.0, 1.0, 8), np.linspace(0.5, 3.0, 6))]

def square_ref(xp, x):
    return x * x

def scaling_inputs(rng, n):
    return (rng.normal(size=n),)
"""

SUBMISSION = f'''
# %% p1
import numpy as np
print({HOSTILE!r})

def outer(x, y):
    out = np.outer(x, y)
    out[2:5, 1:3] *= -1.5       # wrong in a block
    out[7, 5] = np.nan          # and one NaN
    return out

# %% p2
def square(x):
    raise ValueError({HOSTILE!r})

# %% p3
def by_sum(x):
    return np.sum(x * x)

def by_outer(x):
    return np.outer(x, x).sum()
'''


@pytest.fixture
def checked_page(tmp_path: Path) -> tuple[Path, subprocess.CompletedProcess]:
    """`adgrade check --format html -o` on a submission with a wrong matrix, an exception and a timing check."""
    problems = tmp_path / "htmldemo"
    problems.mkdir()
    (problems / "assignment.toml").write_text(PROBLEM_SET)
    (problems / "functions.py").write_text(FUNCTIONS)
    sub = tmp_path / "hw.py"
    sub.write_text(SUBMISSION)
    out = tmp_path / "report.html"
    proc = run_cli("check", str(sub), "-a", str(problems), "--format", "html", "-o", str(out), "--sandbox", "none")
    return out, proc


def test_check_format_html_in_the_browser(checked_page, tmp_path):
    out, proc = checked_page
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == "", "the page goes to the file only, not to the terminal"
    assert f"Wrote {out}" in proc.stderr
    markup = out.read_text(encoding="utf-8")
    dom = dump_dom(out, tmp_path)
    page = parse(dom)
    assert "script" not in page.tags  # the student's "<script>" is text in the DOM, not an element
    text = page.all_text()
    assert page.text_of("score") == "1 / 4"
    assert page.text_of("status") == "failed"
    for pid in ("p1", "p2", "p3"):
        assert f"problem-{pid}" in page.ids, pid
        assert page.text_of(f"problem-{pid}").split()[1] == pid  # badge, then the id
    assert "Outer product" in text and "Sum against outer" in text
    # the failing messages, as written, the student's hostile text included
    assert "`outer` is wrong" in page.text_of("problem-p1")
    assert "NaN" in page.text_of("problem-p1")
    assert f"ValueError: {HOSTILE}" in page.text_of("problem-p2")
    assert HOSTILE in text  # what the student printed, as text
    alts = [img["alt"] for img in page.images]
    assert alts == ["heat map of the error", "timing plot"], alts
    crops = assert_images_drawn(out, tmp_path, markup, height=2600)
    # the heat map: the two arrays side by side and the error, in many colours, reds among them
    heat = crops[0][1]
    assert distinct_colors(heat) > 300
    red = (heat[..., 0] > 150) & (heat[..., 1] < 110) & (heat[..., 2] < 110)
    assert red.sum() > 500, "no red cells where the answer is wrong"
    green_ok = (np.abs(heat - np.array([0xDA, 0xFB, 0xE1])).sum(axis=2) < 12)
    assert green_ok.sum() > 500, "no green cells where the answer is right"
    # the timing plot has both candidates' colours
    timing = crops[1][1]
    blue = (np.abs(timing - np.array([0x09, 0x69, 0xDA])).sum(axis=2) < 60).sum()
    crimson = (np.abs(timing - np.array([0xCF, 0x22, 0x2E])).sum(axis=2) < 60).sum()
    assert blue > 100 and crimson > 100, (blue, crimson)


GOOD = "# %% p1\ndef square(x):\n    return x * x\n# %% p2\ndef cube_grad(x):\n    return 3 * x ** 2\n"
TWICE = "# %% p1\ndef square(x):\n    return 2 * x * x\n# %% p2\ndef cube_grad(x):\n    return 3 * x ** 2\n"
SIGN = "# %% p1\ndef square(x):\n    return x * x\n# %% p2\ndef cube_grad(x):\n    return -3 * x ** 2\n"
BROKEN = f"# %% p1\ndef square(x):\n    raise ValueError({HOSTILE!r})\n"


@pytest.fixture
def graded_class(tmp_path: Path) -> Path:
    subs = tmp_path / "subs"
    subs.mkdir()
    for name, text in (("alice", GOOD), ("bob", TWICE), ("carol", SIGN), ("dave", BROKEN), ("erin", TWICE)):
        (subs / f"{name}.py").write_text(text)
    out = tmp_path / "out"
    proc = run_cli("grade", str(subs), "-a", str(FIXTURES / "toy"), "--only", "p1", "--only", "p2", "--out",
                   str(out), "-q", "--sandbox", "none", "--workers", "2")
    assert proc.returncode == 0, proc.stderr
    return out


def test_class_report_in_the_browser(graded_class, tmp_path):
    out = graded_class
    proc = run_cli("report", str(out), "--format", "html")
    assert proc.returncode == 0, proc.stderr
    page_path = out / "class.html"
    assert f"Wrote {page_path}" in proc.stderr
    markup = page_path.read_text(encoding="utf-8")
    assert "<script>alert" not in markup
    dom = dump_dom(page_path, tmp_path)
    page = parse(dom)
    assert "script" not in page.tags
    text = page.all_text()
    assert "toy: class report" in text
    assert page.text_of("counts").startswith("5 submission(s)")
    assert page.text_of("mean-score") == f"{(5 + 3 + 2 + 0 + 3) / 5:g} / 5"
    # every student: a row linking to their section, and the section
    for student in ("alice", "bob", "carol", "dave", "erin"):
        assert f"#student-{student}" in page.links
        assert f"student-{student}" in page.ids
        assert f"reports/{student}.json" in page.links
    assert "Every check passed" in page.text_of("student-alice")
    assert "sign flipped" in page.text_of("student-carol")
    assert HOSTILE in page.text_of("student-dave")
    # the most common failure: bob's and erin's square, numbers replaced by #
    failures = [line for line in re.findall(r"<tr>(.*?)</tr>", dom, re.S) if "`square` is wrong" in line]
    assert failures and re.search(r">\s*2\s*<", failures[0]) and "#student-bob" in failures[0]
    assert [img["alt"] for img in page.images] == ["score histogram", "pass rate per problem"]
    assert_images_drawn(page_path, tmp_path, markup, height=2600, min_colors=20)


def test_report_command_on_one_json_report_and_usage_errors(graded_class, tmp_path):
    proc = run_cli("report", str(graded_class / "reports" / "carol.json"), "-o", str(tmp_path / "carol.html"))
    assert proc.returncode == 0, proc.stderr
    page = parse((tmp_path / "carol.html").read_text(encoding="utf-8"))
    assert page.text_of("score") == "2 / 5" and "problem-p2" in page.ids
    # elsewhere than OUT: no links to the JSON reports (they would not resolve)
    proc = run_cli("report", str(graded_class), "-o", str(tmp_path / "elsewhere" / "class.html"))
    assert proc.returncode == 0, proc.stderr
    assert "reports/" not in "".join(parse((tmp_path / "elsewhere" / "class.html").read_text()).links)
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = run_cli("report", str(empty))
    assert proc.returncode == 2 and "no reports" in proc.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    proc = run_cli("report", str(bad))
    assert proc.returncode == 2 and "cannot read it as a report" in proc.stderr


def test_chromium_is_there_in_ci():
    """CI installs chromium (.ci/run): without it the browser tests would silently prove nothing."""
    if os.environ.get("CI"):
        assert shutil.which("chromium"), "chromium is missing in CI"
    else:
        pytest.skip("only asserted in CI")



def test_flags_are_shown_wherever_the_report_is_read():
    """A report flagged for review (tampering, review) says so, with why, in the student's terminal and
    HTML report, in the class summary (terminal and summary.txt) and on the class page, gravest first."""
    from adgrade.batch import summarize
    from adgrade.report.class_html import render_class_html
    from adgrade.report.summary import render_summary_text
    from adgrade.report.terminal import render_text

    flagged = sample_report()
    flagged.flag("review", f"its code reaches for the grader's channel or internals: line 3 imports ctypes {HOSTILE}")
    flagged.flag("tampering", "broke the grader's protocol: a frame of another check's answer")
    assert flagged.flags == ["tampering", "review"]
    text = render_text(flagged, width=200)
    assert "flagged for the instructor's review (tampering, review)" in text
    assert "line 3 imports ctypes" in text and "a frame of another check's answer" in text
    page = parse(render_html(flagged))
    assert "Flagged for the instructor's review" in page.all_text() and "line 3 imports ctypes" in page.all_text()
    assert "<script>alert" not in render_html(flagged)
    assert "flagged" not in render_text(sample_report(), width=200)
    assert "Flagged" not in render_html(sample_report())

    only_review = sample_report()
    only_review.flag("review", "imports adgrade.runner.protocol at line 1")
    reports = {"zoe": flagged.to_dict(), "amy": only_review.to_dict(), "bob": sample_report().to_dict()}
    summary = summarize(reports)
    assert [f["student"] for f in summary["flagged"]] == ["zoe", "amy"]  # tampering before review, not by name
    assert summary["flagged"][0]["flags"] == ["tampering", "review"]
    text = render_summary_text(summary, width=200)
    assert "flagged for your review" in text and "zoe" in text and "imports adgrade.runner.protocol" in text
    markup = render_class_html(summary, reports)
    page = parse(markup)
    assert "flagged" in page.ids and "<script>alert" not in markup
    assert "imports adgrade.runner.protocol at line 1" in page.text_of("flagged")
    assert "Flagged for the instructor's review" in page.text_of("student-zoe")
    assert "Flagged" not in page.text_of("student-bob")
    assert "flagged for your review" not in render_summary_text(summarize({"bob": reports["bob"]}))
