"""The docs site in a real browser: every page of docs/_build/html in headless Chromium (Playwright).

Builds the site first with docs/build.py (a no-op when `make docs` already built it from the same inputs),
serves it on 127.0.0.1, and checks on every page: no console error or uncaught exception, no failed
request, no request to any other host (those are blocked and recorded), then across the site: the API
signatures of every module page, at least one plot image decoded by the browser, and at least one
ipywidget rendered from its saved state by the bundled widget manager (not its fallback text).
Screenshots of every page go to the test's temporary folder (printed at the end).
"""
from __future__ import annotations

import ast
import functools
import http.server
import json
import re
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "docs" / "_build" / "html"
CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.browser

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]


def module_pages() -> dict[str, str]:
    "page name -> module, for every notebook with `#| default_exp` (nbdev names 00_models.ipynb's page models.html)."
    out = {}
    for nb in sorted((ROOT / "nbs").glob("*.ipynb")):
        if nb.name.startswith(("_", ".")):
            continue
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
        for c in cells:
            src = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            m = re.search(r"^\s*#\|\s*default_exp\s+(\S+)", src, re.M)
            if c["cell_type"] == "code" and m:
                out[re.sub(r"^\d+[a-zA-Z0-9]*_", "", nb.stem)] = m.group(1)
                break
    return out


def documented_names(module: str) -> list[str]:
    "Public functions and classes nbdev documents with show_doc: those in the generated module's __all__."
    path = ROOT / "lrc_nb" / (module.replace(".", "/") + ".py")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    all_ = next((ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
                 and any(getattr(t, "id", "") == "__all__" for t in n.targets)), [])
    defs = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    return sorted(n for n in all_ if n in defs and not n.startswith("_"))


@pytest.fixture(scope="module")
def site():
    r = subprocess.run([sys.executable, str(ROOT / "docs" / "build.py")], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, f"docs build failed:\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}"
    assert (SITE / "index.html").exists()
    return SITE


@pytest.fixture(scope="module")
def server(site):
    handler = functools.partial(_QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass


def site_pages(site: Path) -> list[str]:
    return sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html")
                  if not p.relative_to(site).parts[0].startswith("_"))


JS_PAGE_FACTS = """() => {
  const imgs = [...document.querySelectorAll('img')].map(i => ({src: i.currentSrc || i.src, w: i.naturalWidth,
      complete: i.complete, output: !!i.closest('.cell_output, .output')}));
  const widgets = [...document.querySelectorAll('.jupyter-widgets')].filter(e => e.getBoundingClientRect().width > 0);
  const views = document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length;
  const sigs = [...document.querySelectorAll('blockquote pre, blockquote code, .cell_output pre')].map(e => e.innerText);
  const heads = [...document.querySelectorAll('h1, h2, h3, h4, .rubric')].map(h => h.innerText.replace(/[#¶]/g, '').trim());
  const links = [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'));
  return {imgs, links, widgets: widgets.length, widget_classes: widgets.slice(0, 5).map(w => w.className),
          views, sigs, heads, text: document.body.innerText};
}"""


def _watch(page, rec: dict, host: str):
    "Record console errors, exceptions, failed and non-2xx requests; block (and record) any other host."
    def route(r):  # Playwright passes (route, request) to a two-argument handler: keep this one-argument
        u = urlparse(r.request.url)
        if u.scheme in ("data", "blob", "about") or u.netloc == host:
            r.continue_()
        else:
            rec["foreign"].append(r.request.url)
            r.abort()
    page.route("**/*", route)
    page.on("console", lambda m: rec["console"].append(f"{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: rec["page_errors"].append(str(e)))
    page.on("requestfailed", lambda q: None if q.url in rec["foreign"] else rec["failed"].append(f"{q.url} {q.failure}"))
    page.on("response", lambda q: rec["bad_status"].append(f"{q.status} {q.url}") if q.status >= 400 else None)


@pytest.fixture(scope="module")
def visits(site, server, tmp_path_factory):
    try:
        from playwright import sync_api as pw_sync
    except ImportError:
        pytest.fail("playwright is missing: `make docs-install` installs requirements/docs.txt")
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `make browser-deps` installs it (apt-get install chromium)"
    shots = tmp_path_factory.mktemp("docs_screenshots")
    host = urlparse(server).netloc
    results = {}
    with pw_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        for page_name in site_pages(site):
            rec = {"console": [], "page_errors": [], "foreign": [], "failed": [], "bad_status": []}
            page = ctx.new_page()
            _watch(page, rec, host)
            page.goto(f"{server}/{page_name}", wait_until="load")
            if page.locator('script[type="application/vnd.jupyter.widget-view+json"]').count():
                try:  # the widget manager replaces each view script with the widget
                    page.wait_for_selector(".jupyter-widgets", state="attached", timeout=30_000)
                except pw_sync.TimeoutError:
                    pass  # test_a_widget_is_rendered says so
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(300)
            rec.update(page.evaluate(JS_PAGE_FACTS))
            shot = shots / (page_name.replace("/", "_").removesuffix(".html") + ".png")
            page.screenshot(path=str(shot), full_page=True)
            rec["screenshot"] = shot
            results[page_name] = rec
            page.close()
        browser.close()
    print(f"\ndocs screenshots: {shots}")
    return results


def test_every_page_loads_cleanly(visits):
    assert "index.html" in visits and len(visits) >= 3
    problems = {p: {k: r[k] for k in ("console", "page_errors", "failed", "bad_status") if r[k]} for p, r in visits.items()}
    problems = {p: v for p, v in problems.items() if v}
    assert not problems, f"console errors, exceptions or failed requests: {json.dumps(problems, indent=1)[:4000]}"
    for p, r in visits.items():
        assert r["screenshot"].stat().st_size > 5_000, f"blank screenshot of {p}?"


def test_no_request_to_other_hosts(visits):
    foreign = {p: r["foreign"] for p, r in visits.items() if r["foreign"]}
    assert not foreign, f"pages asked other hosts (blocked): {foreign}"


def test_every_notebook_has_a_page(visits):
    nbs = [p for p in sorted((ROOT / "nbs").glob("*.ipynb")) if not p.name.startswith(("_", "."))]
    for nb in nbs:
        page = re.sub(r"^\d+[a-zA-Z0-9]*_", "", nb.stem) + ".html"
        assert page in visits, f"{nb.name} has no page {page}"
        if nb.stem != "index":  # reachable from the home page's navigation
            assert any(l.split("#")[0] == page for l in visits["index.html"]["links"]), f"index.html does not link to {page}"


def test_api_signatures_on_module_pages(visits):
    pages = module_pages()
    assert pages, "no notebook with #| default_exp"
    for page, module in pages.items():
        r = visits[f"{page}.html"]
        names = documented_names(module)
        assert names, f"{module} documents no function or class?"
        sigs = "\n".join(r["sigs"])
        missing = [n for n in names if not re.search(rf"(^|\s){re.escape(n)}\s*\(", sigs)]
        assert not missing, f"{page}.html lacks the show_doc signatures of {missing}"
        missing_heads = [n for n in names if n not in r["heads"]]
        assert not missing_heads, f"{page}.html lacks the API headings of {missing_heads}"


def test_a_plot_image_is_loaded(visits):
    plots = [(p, i["src"][:80]) for p, r in visits.items() for i in r["imgs"] if i["output"] and i["complete"] and i["w"] > 0]
    assert plots, "no notebook plot image was decoded by the browser on any page"
    broken = [(p, i["src"][:80]) for p, r in visits.items() for i in r["imgs"] if i["complete"] and i["w"] == 0]
    assert not broken, f"images that failed to decode: {broken}"
    assert any(p == "index.html" for p, _ in plots), "the home page's diagram did not load"


def test_a_widget_is_rendered(visits):
    with_views = {p: r for p, r in visits.items() if r["views"]}
    assert with_views, "no page has a widget output (saved widget state missing?)"
    for p, r in with_views.items():
        assert r["widgets"] > 0, f"{p}: {r['views']} widget views but none rendered by the widget manager"
        for fallback in ("Loading widgets", "Accordion(children=", "IntSlider(value=", "HBox(children="):
            assert fallback not in r["text"], f"{p} shows the widget fallback text {fallback!r}"
