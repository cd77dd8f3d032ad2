"""The built site in a real browser: every chapter draws its plotly figures offline, with no JS errors.

Serves the tiny build's ``_build/html`` on 127.0.0.1, opens each page in Debian's headless Chromium
(driven by playwright-python; no browser download), blocks every request that leaves 127.0.0.1 (the
site must work offline), and saves a screenshot of each page into a temporary folder (set
``MINDGAP_SCREENSHOTS=DIR`` to keep them). The pages must also read cleanly: no library log lines,
no absolute paths of this machine in the parameters cell, code collapsed, chapters numbered.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# Everything must come from the site itself: plotly.js is inline in each figure and MathJax 3 is served
# from _static (mindgap_lib.build.book), so any request that leaves 127.0.0.1 is a failure.

pytestmark = pytest.mark.slow


def _expected_figures(notebook: Path) -> int:
    """Plotly figures in an executed notebook: outputs holding a plotly-graph-div."""
    nb = json.loads(notebook.read_text())
    count = 0
    for cell in nb["cells"]:
        if "remove-output" in cell.get("metadata", {}).get("tags", []):
            continue
        for out in cell.get("outputs", []):
            html = out.get("data", {}).get("text/html", "")
            count += "".join(html).count('class="plotly-graph-div"')
    return count


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    """Where the screenshots go: a fresh temporary folder (never the repository), or $MINDGAP_SCREENSHOTS."""
    keep = os.environ.get("MINDGAP_SCREENSHOTS")
    folder = Path(keep) if keep else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def site(tiny_build):
    handler = functools.partial(_QuietHandler, directory=str(tiny_build.html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", tiny_build
    server.shutdown()
    thread.join()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output clean
        pass


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} missing: `make install` installs Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


def _open(browser, base: str, page_path: str):
    """Open a page offline; return it with the lists its JS errors and failed requests fill."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors, failed = [], []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("requestfailed", lambda req: failed.append(req.url))
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(base) else route.abort())
    page.goto(f"{base}/{page_path}", wait_until="load")
    return page, errors, failed


def _pages(build) -> list[tuple[str, Path | None]]:
    chapters = sorted((build.root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    return [("book/intro.html", None)] + [(f"book/{nb.stem}.html", nb) for nb in chapters if ".failed" not in nb.name]


def test_every_page_draws_its_figures_offline_without_js_errors(site, browser, screenshots):
    base, build = site
    report, shot = {}, {}
    for page_path, notebook in _pages(build):
        page, errors, failed = _open(browser, base, page_path)
        expected = _expected_figures(notebook) if notebook else 0
        if notebook is not None:
            assert expected >= 1, f"{notebook.name}: no plotly figure in the executed chapter"
            page.wait_for_function("n => document.querySelectorAll('div.plotly-graph-div .main-svg').length >= n "
                                   "&& [...document.querySelectorAll('div.plotly-graph-div')].every("
                                   "d => d.querySelector('.main-svg'))", arg=expected, timeout=30_000)
        divs = page.locator("div.plotly-graph-div").count()
        drawn = page.locator("div.plotly-graph-div:has(svg.main-svg)").count()
        page.wait_for_timeout(300)
        shot[page_path] = screenshots / f"{Path(page_path).stem}.png"
        page.screenshot(path=str(shot[page_path]), full_page=True)
        assert divs == expected and drawn == expected, f"{page_path}: {drawn}/{divs} drawn, {expected} in the notebook"
        assert not failed, f"{page_path}: requests that need the network: {failed}"
        outputs = "\n".join(page.locator(".cell_output").all_inner_texts())
        assert not re.search(r"\|\s*:?-{3,}:?\s*\|", outputs), f"{page_path}: a Markdown table output left unrendered"
        assert not errors, f"{page_path}: JavaScript errors: {errors}"
        report[page_path] = drawn
        page.close()
    for page_path, path in shot.items():  # this run's own screenshots (the folder started empty)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000, page_path
    assert {p.name for p in shot.values()} <= {p.name for p in screenshots.glob("*.png")}
    print("figures drawn per page:", report)


def _chapter_pages(build) -> list[tuple[str, Path]]:
    return [(path, nb) for path, nb in _pages(build) if nb is not None]


def test_pages_read_cleanly(site, browser):
    """No library log lines in the outputs, every code cell but the parameters collapsed (hide-input), and the
    chapters numbered in the navigation as in their titles (1., 2., ... from the file names)."""
    base, build = site
    for page_path, notebook in _chapter_pages(build):
        page, _, _ = _open(browser, base, page_path)
        outputs = "\n".join(page.locator(".cell_output").all_inner_texts())
        assert not re.search(r"^\[mindgap( run)?\]", outputs, re.M), f"{page_path}: library log lines on the page"
        assert "running stage" not in outputs and "it/s]" not in outputs, f"{page_path}: a log line or progress bar"
        cells = page.locator("div.cell")
        assert cells.count() >= 3, page_path
        for i in range(cells.count()):
            cell = cells.nth(i)
            classes = (cell.get_attribute("class") or "").split()
            if "tag_parameters" in classes or "tag_injected-parameters" in classes:
                continue
            assert "tag_hide-input" in classes, f"{page_path}: code cell {i} is not collapsed ({classes})"
            source = cell.locator(".cell_input")
            assert source.count() == 1 and not source.is_visible(), f"{page_path}: code cell {i} shows its source"
        nav = page.locator("nav.bd-docs-nav li.toctree-l1 > a")
        titles = {Path(a.get_attribute("href")).stem: a.inner_text().strip() for a in nav.all()}
        chapters = {nb.stem for _, nb in _chapter_pages(build)}
        assert chapters <= set(titles) | {notebook.stem}, (chapters, titles)
        for stem, title in titles.items():
            if stem in chapters:
                assert title.startswith(f"{int(stem[:2])}. "), f"{page_path}: navigation entry {title!r} for {stem}"
        heading = page.locator("article h1").first.inner_text().strip()
        assert heading.startswith(f"{int(notebook.stem[:2])}. "), f"{page_path}: title {heading!r}"
        page.close()


@pytest.mark.xfail(strict=True, reason="library bug: mindgap_lib/build/book.py _relative_parameters only rewrites "
                   "the project's own path; a build folder outside the project (`mindgap run --out /elsewhere/tiny`, "
                   "as the end-to-end tests do) keeps this machine's absolute path in every chapter's injected "
                   "parameters cell (build_dir = \"/tmp/...\"); rewrite the build folder's resolved path too (relative "
                   "to the project, or the chapters' default \"build\")")
def test_parameters_cell_holds_no_absolute_path_of_this_machine(site, browser):
    base, build = site
    machine_paths = [str(REPO), str(REPO.resolve()), str(build.root.parent), str(build.root.parent.resolve())]
    for page_path, _ in _chapter_pages(build):
        page, _, _ = _open(browser, base, page_path)
        injected = page.locator("div.tag_injected-parameters")
        assert injected.count() == 1, page_path
        text = injected.inner_text()
        assert "profile" in text and "build_dir" in text, text
        leaked = [p for p in machine_paths if p in text]
        page.close()
        assert not leaked, f"{page_path}: parameters cell shows {leaked}: {text!r}"


def test_intro_has_the_filled_paper_vs_ours_table(site, browser):
    base, build = site
    page, errors, _ = _open(browser, base, "book/intro.html")
    table = page.locator("table").filter(has_text="paper").first
    text = table.inner_text()
    assert "Fig. 1" in text and "Fig. 4a" in text and "Fig. 5" in text
    ratio = build.metrics["chapters"]["01_datasets"]["d0_width_ratio"]
    assert f"{ratio:.3g}" in text  # filled from metrics.json
    assert page.locator("a[href$='01_datasets.html']").count() >= 2  # chapter list and table link into the chapter
    page.close()


def test_static_knob_slider_moves_between_precomputed_variants(site, browser, screenshots):
    base, _ = site
    page, _, _ = _open(browser, base, "book/01_datasets.html")
    page.wait_for_function("() => [...document.querySelectorAll('div.plotly-graph-div')].some(d => d.layout && d.layout.sliders)",
                           timeout=30_000)
    visible = ("() => { const d = [...document.querySelectorAll('div.plotly-graph-div')].find(d => d.layout.sliders);"
               " return [d.layout.title.text, d.data.filter(t => t.visible !== false).map(t => t.name)]; }")
    title0, names0 = page.evaluate(visible)
    rail = page.locator(".slider-rail-touch-rect").first  # click the right end of the slider rail: the last variant
    rail.scroll_into_view_if_needed()
    box = rail.bounding_box()
    page.mouse.click(box["x"] + box["width"] - 2, box["y"] + box["height"] / 2)
    page.wait_for_timeout(500)
    title1, names1 = page.evaluate(visible)
    assert title1 != title0 and set(names1) != set(names0) and "nominal" in names1
    page.screenshot(path=str(screenshots / "01_datasets_slider_moved.png"))
    page.close()


def test_math_is_typeset_offline(site, browser):
    """Chapter 03's formulas come out as MathJax SVG, not as TeX source."""
    base, _ = site
    page, errors, failed = _open(browser, base, "book/03_transport.html")
    page.wait_for_function("() => document.querySelectorAll('mjx-container svg').length > 5", timeout=30_000)
    assert "\\nabla" not in page.locator("article").inner_text()
    assert not failed and not errors, (failed, errors)
    page.close()
