"""The demo's HTML evidence report, opened in a real headless Chromium (Debian's `chromium` package)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from drwave_local.cli.main import main

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,2000",
]
# Appended to a copy of the report (the report itself has no script): after layout, it measures the chart and asks
# the browser which element is painted at the centre of every bar, then writes the answers into the DOM.
PROBE = """
<script>
window.addEventListener('load', () => {
  const svg = document.getElementById('gantt');
  const box = svg.getBoundingClientRect();
  const style = getComputedStyle(svg);
  const bars = [...svg.querySelectorAll('rect.bar')];
  const hits = bars.filter(b => {
    const r = b.getBoundingClientRect();
    b.scrollIntoView({block: 'center'});
    const s = b.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && document.elementFromPoint(s.x + s.width / 2, s.y + s.height / 2) === b;
  }).length;
  const out = document.createElement('pre');
  out.id = 'probe';
  out.textContent = JSON.stringify({width: box.width, height: box.height, display: style.display,
    visibility: style.visibility, bars: bars.length, visibleBars: hits, text: document.body.innerText});
  document.body.appendChild(out);
});
</script>
"""

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium package (/usr/bin/chromium): apt-get install -y chromium"
)


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "chromium-profile"
    command = [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`drwave demo` run in a scratch directory, as `make demo` runs it: its out/demo/report.html."""
    workdir = tmp_path_factory.mktemp("demo")
    report = workdir / "out" / "demo" / "report.json"
    assert main(["demo", "--report", str(report), "--log", str(workdir / "handlers.log")]) == 0
    return report.with_suffix(".html")


def test_the_demo_leaves_html_markdown_and_json_evidence_with_one_content_hash(demo_report: Path):
    # GIVEN the demo's outputs
    evidence = json.loads(demo_report.with_suffix(".json").read_text())["evidence"]
    html = demo_report.read_text()
    markdown = demo_report.with_suffix(".md").read_text()
    # THEN the HTML and the Markdown name the JSON evidence's content hash, and the HTML needs nothing external
    assert re.fullmatch(r"[0-9a-f]{64}", evidence["contentSha256"])
    assert evidence["contentSha256"] in html and evidence["contentSha256"] in markdown
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")


def test_the_demo_report_renders_in_headless_chromium_with_a_visible_gantt_chart(demo_report: Path, tmp_path: Path):
    # GIVEN a copy of the demo's HTML report with a measuring script appended
    probe = tmp_path / "probe.html"
    probe.write_text(demo_report.read_text().replace("</body>", PROBE + "</body>"))
    # WHEN headless Chromium loads it and dumps the rendered DOM
    dom = _chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()).stdout
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, f"the probe did not run; Chromium printed: {dom[:500]}"
    rendered = json.loads(found.group(1).replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))
    # THEN the chart is laid out, displayed, and every bar is the element painted at its own centre
    assert rendered["display"] != "none" and rendered["visibility"] == "visible"
    assert rendered["width"] > 600 and rendered["height"] > 300
    evidence = json.loads(demo_report.with_suffix(".json").read_text())["evidence"]
    launched = [s for w in evidence["waves"] for s in w["servers"] if s["drsJobId"]]
    assert rendered["bars"] == len(evidence["waves"]) + len(launched) == 5 + 20
    assert rendered["visibleBars"] == rendered["bars"]
    # AND the rendered text tells the story: the plan, its waves, a DRS job id, the approval and the objectives
    text = rendered["text"]
    for expected in (
        "Retail platform",
        "wave identity",
        "wave web",
        "approved the gate",
        "demo-operator",
        "Objectives",
    ):
        assert expected in text
    assert re.search(r"drsjob-[0-9A-Za-z]{17}", text)
    assert "log-shipper-01" in text and "FAILED" in text


def test_the_demo_report_prints_a_screenshot_and_a_pdf(demo_report: Path, tmp_path: Path):
    # GIVEN the demo's HTML report
    shot, pdf = tmp_path / "report.png", tmp_path / "report.pdf"
    # WHEN Chromium screenshots it and prints it to PDF
    _chromium(tmp_path, f"--screenshot={shot}", demo_report.as_uri())
    _chromium(tmp_path, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", demo_report.as_uri())
    # THEN both are real files of their kind
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 10_000
