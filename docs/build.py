"""Build the lrc_nb docs site (docs/_build/html) from the notebooks in nbs/, offline.

    python docs/build.py            # build if anything changed (prints the time of each step)
    python docs/build.py --force    # rebuild everything, ignoring the caches
    python docs/build.py --flags slow   # also run cells flagged #| slow (as nbdev_test --flags)
    python docs/build.py --execute-only # only step 1: a notebook test run whose outputs the next build reuses

Steps (Quarto, which nbdev_docs needs, cannot be installed here; see README "Docs"):
1. Execute every notebook nbs/*.ipynb (not `_*`) into a copy, each in a fresh process, the way nbdev_test
   runs it (execnb's CaptureShell in the notebook's folder, IN_TEST=1, cells flagged with settings.ini
   `tst_flags` (unless --flags) or `#| eval: false` skipped), keeping outputs and the widget state. Before
   running, nbdev's `add_show_docs` processor inserts the show_doc cells, so the API docs come from the same
   run. The committed notebooks are never written. Executed copies are cached in docs/_build/exec, keyed by
   the notebook's sources, the lrc_nb modules it uses (transitively), settings, requirements and flags.
2. Run nbdev's docs processors (nbdev.processors.FilterDefaults, as nbdev_proc_nbs does: #| hide, #| export,
   front matter, doc links, ...) on each executed copy, except `exec_show_docs` (step 1 ran those cells).
3. Adapt the Quarto-specific bits for MyST-NB: front matter -> title, `#| echo/output/include/code-fold`
   -> MyST-NB cell tags, doc links to this site; a hidden toctree in the home page.
4. Fetch the widget manager, RequireJS and MathJax from the npm registry (`npm pack`, pinned versions
   and integrity hashes) into docs/_build/static, so no page loads anything from another host.
5. `sphinx-build` (MyST-NB, Furo theme) into docs/_build/html, then fail if any page or style sheet
   references a script, style sheet, image or font on another host.
"""
from __future__ import annotations

import argparse
import base64
import configparser
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
NBS = ROOT / "nbs"
BUILD = DOCS / "_build"
EXEC_CACHE = BUILD / "exec"
SRC = BUILD / "src"
STATIC = BUILD / "static"
NPM_CACHE = BUILD / "npm"
SITE = BUILD / "html"
STAMP = SITE / ".lrc_nb-build.json"
BUILDER_VERSION = "3"  # bump to invalidate every cache after changing how notebooks are executed

# Pinned npm packages (version, sha512 integrity as the registry reports it).
NPM = {
    "@jupyter-widgets/html-manager": ("1.0.15", "sha512-5thBIV6ymNgmPVOHvzx+gGy8ZSKmSazhtGw4/c4xJDVzRhG9PTeQsRjF3FUTopvFi//SABeNz1yp47bCrJ3CQA=="),
    "requirejs": ("2.3.8", "sha512-7/cTSLOdYkNBNJcDMWf+luFvMriVm7eYxp4BcFCsAX0wF421Vyce5SXP17c+Jd5otXKGNehIonFlyQXSowL6Mw=="),
    "mathjax": ("3.2.2", "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw=="),
}
IMAGE_SUFFIXES = {".png", ".svg", ".jpg", ".jpeg", ".gif", ".webp"}


def log(*a):
    print("[docs]", *a, flush=True)


def settings():
    ini = configparser.ConfigParser()
    ini.read(ROOT / "settings.ini")
    return ini["DEFAULT"]


def sha(*parts: bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(hashlib.sha256(p).digest())
    return h.hexdigest()


def notebooks() -> list[Path]:
    "The notebooks that become pages: nbs/*.ipynb except `_*` and `.*` (as nbdev skips them)."
    return sorted(p for p in NBS.glob("*.ipynb") if not p.name.startswith(("_", ".")))


_PKG = ROOT / "lrc_nb"
_imp_abs = re.compile(r"^\s*(?:from\s+lrc_nb\.(\w+)\s+import|import\s+lrc_nb\.(\w+))", re.M)
_imp_pkg = re.compile(r"^[ \t]*from[ \t]+(?:lrc_nb|\.)[ \t]+import[ \t]+(?:\(([\w\s,]+)\)|([\w \t,]+))", re.M)
_imp_rel = re.compile(r"^\s*from\s+\.(\w+)\s+import", re.M)
_imp_bare = re.compile(r"^\s*import\s+lrc_nb\s*(?:$|as\s)", re.M)


def _imported_modules(code: str, relative: bool = False):
    "lrc_nb modules `code` imports, or None when it imports the package as a whole (then: all of them)."
    if _imp_bare.search(code):
        return None
    mods = {a or b for a, b in _imp_abs.findall(code)}
    for paren, plain in _imp_pkg.findall(code):
        mods |= {n.split()[0] for n in (paren or plain).split(",") if n.strip()}
    if relative:
        mods |= set(_imp_rel.findall(code))
    return mods


def package_digest(code: str) -> bytes:
    """What a notebook's outputs depend on besides its own source: the lrc_nb modules it imports or exports
    (and what those import, with a module's data folder, e.g. lrc_nb/data/), __init__.py, settings.ini and
    the requirements. Editing one chapter's module re-executes only the notebooks that use it."""
    mods = _imported_modules(code)
    m = re.search(r"^\s*#\|\s*default_exp\s+(\S+)", code, re.M)
    if mods is not None and m:
        mods.add(m.group(1).split(".")[0])
    files = []
    if mods is None:
        files = [p for p in _PKG.rglob("*") if p.is_file()]
    else:
        todo, seen = list(mods), set()
        while todo:
            mod = todo.pop()
            if mod in seen or not (_PKG / f"{mod}.py").exists():
                continue
            seen.add(mod)
            files.append(_PKG / f"{mod}.py")
            if (_PKG / mod).is_dir():
                files += [p for p in (_PKG / mod).rglob("*") if p.is_file()]
            sub = _imported_modules((_PKG / f"{mod}.py").read_text(encoding="utf-8"), relative=True)
            if sub is None:
                files = [p for p in _PKG.rglob("*") if p.is_file()]
                break
            todo += sorted(sub - seen)
        files.append(_PKG / "__init__.py")
    files = sorted({p for p in files if "__pycache__" not in p.parts and p.name != "_modidx.py"})
    files += [ROOT / "settings.ini", *sorted((ROOT / "requirements").glob("*.txt"))]
    return "\n".join(f"{p.relative_to(ROOT)}:{sha(p.read_bytes())}" for p in files if p.exists()).encode()


def notebook_code(nb_path: Path) -> str:
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    return "\n".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                     for c in nb["cells"] if c["cell_type"] == "code")


def source_digest(nb_path: Path) -> bytes:
    "A notebook's cell types and sources (outputs and metadata do not change what executing it gives)."
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    cells = [(c["cell_type"], "".join(c["source"]) if isinstance(c["source"], list) else c["source"]) for c in nb["cells"]]
    return json.dumps(cells).encode()


# --------------------------------------------------------------------------------------------------
# 1. Execution
# --------------------------------------------------------------------------------------------------
_directive_re = re.compile(r"^\s*#\s*\|\s*(.*?)\s*$")


def directives(source: str) -> dict[str, list[str]]:
    "Leading `#| name args` lines of a code cell as {name: [args]} (nbdev's convention; `eval:` keeps its colon)."
    out = {}
    for line in source.splitlines():
        if not line.strip():
            continue
        m = _directive_re.match(line)
        if not m:
            break
        words = m.group(1).split()
        if words:
            out[words[0]] = words[1:]
    return out


def skip_reason(source: str, skip_flags: set[str]) -> str | None:
    d = directives(source)
    if d.get("eval:", [""])[0].lower() == "false":
        return "eval: false"
    hit = skip_flags & d.keys()
    if hit:
        return f"flag {sorted(hit)[0]}"
    if "nbdev_export" + "(" in source:
        return "nbdev_export"
    return None


def execute_one(nb_path: Path, dest: Path, skip_flags: set[str]):
    """Execute `nb_path` into `dest` exactly as nbdev_test runs it, keeping outputs and widget state.

    Runs in a fresh process per notebook (widgets are registered per process). Before executing, nbdev's
    own `add_show_docs` processor inserts a `show_doc(name)` cell after each exported definition, so the
    API documentation is produced by the same run (nbdev_proc_nbs would execute those cells again).
    """
    from execnb.nbio import read_nb, write_nb, mk_cell
    from execnb.shell import CaptureShell
    from fastcore.xtras import working_directory
    from nbdev.process import NBProcessor
    from nbdev.processors import add_show_docs

    os.environ["IN_TEST"] = "1"  # as nbdev_test sets it
    nb = read_nb(nb_path)
    NBProcessor(nb=nb, procs=[add_show_docs], rm_directives=False).process()
    if any(getattr(c, "has_sd", False) for c in nb.cells):
        nb.cells.insert(0, mk_cell("#| hide\nfrom nbdev.showdoc import show_doc"))

    def no_eval(cell):  # nbdev_test's rule (nbdev.test.test_nb)
        if cell.cell_type != "code":
            return True
        return bool(skip_reason(cell.source, skip_flags))

    t0 = time.time()
    k = CaptureShell(nb_path)
    try:
        with working_directory(nb_path.parent):
            k.run_all(nb, exc_stop=True, preproc=no_eval)
    except Exception:
        sys.stderr.write(k.prettytb(fname=nb_path) + "\n")
        bad = next((c for c in nb.cells if any(o.get("output_type") == "error" for o in c.get("outputs", []))), None)
        if bad is not None:  # cell numbers above count the show_doc cells we inserted: show the source too
            sys.stderr.write("The failing cell begins:\n    " + "\n    ".join(bad.source.splitlines()[:8]) + "\n")
        sys.exit(1)
    try:
        from ipywidgets import Widget
    except ImportError:
        pass
    else:
        state = Widget.get_manager_state(drop_defaults=True)
        if state["state"]:
            nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": state}
    dest.parent.mkdir(parents=True, exist_ok=True)
    write_nb(nb, dest)
    n_skip = sum(1 for c in nb.cells if c.cell_type == "code" and no_eval(c))
    log(f"executed {nb_path.name} in {time.time() - t0:.1f} s ({n_skip} cells skipped by flags/eval: false)")


def execute(nb_path: Path, dest: Path, skip_flags: set[str]) -> float | None:
    "Run execute_one in a fresh process; its time, or None when a cell failed (the traceback is printed)."
    t0 = time.time()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
               TQDM_DISABLE="1")  # no tqdm bars in the site: a static page cannot animate them
    r = subprocess.run([sys.executable, __file__, "--execute-one", str(nb_path), str(dest), "--skip-flags", " ".join(sorted(skip_flags))],
                       cwd=ROOT, env=env)  # this checkout's lrc_nb, whatever an editable install points at
    return None if r.returncode else time.time() - t0


def execute_all(nbs: list[Path], keys: dict, skip_flags: set[str], force: bool):
    "Execute every notebook not cached yet; fail after trying them all if any cell of any notebook failed."
    if force:
        shutil.rmtree(EXEC_CACHE, ignore_errors=True)
    executed, timings, failed = {}, {}, []
    for p in nbs:
        cached = EXEC_CACHE / keys[p][:16] / p.name
        if cached.exists():
            log(f"reusing executed {p.name} (same sources, package and flags)")
        else:
            tmp = cached.with_suffix(".partial")
            dt = execute(p, tmp, skip_flags)
            if dt is None:
                failed.append(p.name)
                log(f"FAILED {p.name}")
                continue
            timings[p.name] = round(dt, 1)
            tmp.rename(cached)
        executed[p] = cached
    keep = {keys[p][:16] for p in nbs}
    for d in EXEC_CACHE.iterdir() if EXEC_CACHE.exists() else []:  # drop executions no notebook refers to
        if d.name not in keep:
            shutil.rmtree(d, ignore_errors=True)
    if failed:
        sys.exit(f"docs: {len(failed)} of {len(nbs)} notebooks failed: {', '.join(failed)} (tracebacks above)")
    return executed, timings


# --------------------------------------------------------------------------------------------------
# 2.-3. nbdev processing and MyST-NB adaptation (run in a fresh process per notebook, see main)
# --------------------------------------------------------------------------------------------------
_TAGS = {("echo:", "false"): "remove-input", ("output:", "false"): "remove-output",
         ("include:", "false"): "remove-cell", ("code-fold:", "true"): "hide-input",
         ("code-fold:", "show"): "hide-input"}


def _src(cell) -> str:
    s = cell.get("source", "")
    return "".join(s) if isinstance(s, list) else s


_showdoc_re = re.compile(r"^\s*show_doc\(")
_nb_link_re = re.compile(r"(\]\()(?:\./)?(\d+[a-zA-Z0-9]*_)?([\w.-]+)\.ipynb(#[^)\s]*)?\)")
_CELL_KEYS = {"markdown": {"cell_type", "id", "metadata", "source", "attachments"},
              "code": {"cell_type", "id", "metadata", "source", "outputs", "execution_count"},
              "raw": {"cell_type", "id", "metadata", "source"}}


def adapt_for_myst(nb: dict, doc_prefix: str, page: str) -> dict:
    "Turn the Quarto-flavoured output of nbdev's processors into what MyST-NB understands."
    import yaml

    cells = []
    for cell in nb["cells"]:
        src = _src(cell)
        if cell["cell_type"] == "raw" and src.startswith("---"):
            fm = yaml.safe_load(src.strip().strip("-")) or {}
            md = f"# {fm.get('title') or page}\n"
            if fm.get("description"):
                md += f"\n{{.lrc-description}}\n{fm['description']}\n"
            cell = {"cell_type": "markdown", "metadata": {}, "source": md}
        elif cell["cell_type"] == "code":
            lines = src.splitlines()
            tags = list(cell.get("metadata", {}).get("tags", []))
            while lines and _directive_re.match(lines[0]):
                words = _directive_re.match(lines[0]).group(1).split()
                if len(words) >= 2 and (words[0], words[1].strip("'\"").lower()) in _TAGS:
                    tags.append(_TAGS[(words[0], words[1].strip("'\"").lower())])
                lines.pop(0)
            cell = dict(cell, source="\n".join(lines))
            cell["metadata"] = dict(cell.get("metadata", {}))
            if _showdoc_re.match(cell["source"]):
                tags.append("lrc-showdoc")
                for out in cell.get("outputs", []):
                    if "text/markdown" in out.get("data", {}):
                        out["data"]["text/markdown"] = showdoc_markdown(out["data"]["text/markdown"])
            if tags:
                cell["metadata"]["tags"] = sorted(set(tags))
        if cell["cell_type"] == "markdown":  # links between notebooks: 00_models.ipynb is the page models
            cell["source"] = _nb_link_re.sub(lambda m: f"{m.group(1)}{m.group(3)}.ipynb{m.group(4) or ''})", _src(cell))
        if doc_prefix:
            cell = relink(cell, doc_prefix)
        cells.append({k: v for k, v in cell.items() if k in _CELL_KEYS[cell["cell_type"]]})
    for i, cell in enumerate(cells):
        cell["id"] = f"cell-{i}"
    nb["cells"] = cells
    nb["nbformat"], nb["nbformat_minor"] = 4, 5
    nb.setdefault("metadata", {})
    nb["metadata"]["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb["metadata"]["language_info"] = {"name": "python", "pygments_lexer": "ipython3"}
    return nb


def showdoc_markdown(md) -> str:
    """show_doc's Markdown for Quarto -> MyST: drop the leading rule (the cell gets a CSS border instead) and
    give the entry the anchor nbdev's links use (the lower-cased name, as Quarto derives it from the heading)."""
    md = "".join(md) if isinstance(md, list) else md
    md = re.sub(r"\A\s*---\s*\n", "", md)
    return re.sub(r"^(#{2,4})\s+(\S+)\s*$", lambda m: f'<span id="{m.group(2).lower()}"></span>\n\n{m.group(0)}',
                  md, count=1, flags=re.M)


def relink(cell: dict, prefix: str) -> dict:
    """nbdev links names to the Quarto site (doc_host + doc_baseurl + page.html#name): point them at this site.
    Markdown goes through MyST, which would try to resolve a relative link as a document, so such links use
    the `lrcdoc:` scheme (docs/conf.py turns it into a plain relative href)."""
    pat = re.compile(re.escape(prefix.rstrip("/") + "/"))
    if cell["cell_type"] == "markdown":
        cell["source"] = pat.sub("lrcdoc:", _src(cell))
    for out in cell.get("outputs", []):
        data = out.get("data", {})
        for mime, repl in (("text/markdown", "lrcdoc:"), ("text/html", "")):
            if mime in data:
                v = data[mime]
                data[mime] = pat.sub(repl, "".join(v) if isinstance(v, list) else v)
    return cell


def process_one(executed: Path, dest: Path):
    """nbdev's docs processors (nbdev.processors.FilterDefaults, what nbdev_proc_nbs runs) on one executed
    notebook, except `exec_show_docs`: the show_doc cells already ran with the notebook. Then the MyST adaptation."""
    from execnb.nbio import read_nb, nb2dict
    from nbdev.processors import FilterDefaults, exec_show_docs

    class Procs(FilterDefaults):
        def base_procs(self):
            return [p for p in super().base_procs() if p is not exec_show_docs]

    nb = read_nb(executed)
    Procs()(nb)
    d = nb2dict(nb)
    cfg = settings()
    prefix = cfg.get("doc_host", "").rstrip("/") + cfg.get("doc_baseurl", "")
    d = adapt_for_myst(d, prefix, dest.stem)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(d, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def page_name(nb_path: Path) -> str:
    "The page a notebook becomes, as nbdev names it (00_models.ipynb -> models)."
    from nbdev.frontmatter import _nbpath2html
    return _nbpath2html(Path(nb_path)).stem


def toctree_cell(pages: list[str]) -> dict:
    "A hidden toctree for the home page: tutorial, the chapters in notebook order, then the rest."
    chapters = [p for p in pages if p not in ("index", "tutorial", "results")]
    def block(caption, items):
        return f"```{{toctree}}\n:hidden:\n:caption: {caption}\n\n" + "\n".join(items) + "\n```\n"
    src = ""
    if "tutorial" in pages:
        src += block("Tutorial", ["tutorial"])
    src += block("Chapters and API", chapters)
    if "results" in pages:
        src += block("Results", ["results"])
    return {"cell_type": "markdown", "metadata": {}, "source": src}


# --------------------------------------------------------------------------------------------------
# 4. JavaScript from the npm registry
# --------------------------------------------------------------------------------------------------
def npm_tarball(name: str) -> Path:
    version, integrity = NPM[name]
    NPM_CACHE.mkdir(parents=True, exist_ok=True)
    fname = name.lstrip("@").replace("/", "-") + f"-{version}.tgz"
    path = NPM_CACHE / fname
    if not path.exists():
        npm = shutil.which("npm")
        if not npm:
            sys.exit("docs: npm is needed to fetch the widget manager, RequireJS and MathJax (apt-get install npm)")
        subprocess.run([npm, "pack", f"{name}@{version}", "--pack-destination", str(NPM_CACHE), "--silent"],
                       check=True, cwd=NPM_CACHE, stdout=subprocess.DEVNULL)
    algo, want = integrity.split("-", 1)
    got = base64.b64encode(hashlib.new(algo, path.read_bytes()).digest()).decode()
    if got != want:
        path.unlink()
        sys.exit(f"docs: {fname} does not match its pinned integrity hash; deleted it, run again")
    return path


def _extract(tgz: Path, members: list[str], dest: Path):
    "Extract `package/<m>` (a file or a folder prefix) for each m in `members` into dest/<m>."
    with tarfile.open(tgz) as tf:
        for ti in tf.getmembers():
            rel = ti.name.split("/", 1)[1] if "/" in ti.name else ti.name
            for m in members:
                if ti.isfile() and (rel == m or rel.startswith(m.rstrip("/") + "/")):
                    out = dest / rel
                    out.parent.mkdir(parents=True, exist_ok=True)
                    with tf.extractfile(ti) as f:
                        out.write_bytes(f.read())


def fetch_static():
    "Put the widget manager, RequireJS and MathJax into docs/_build/static (served as _static/)."
    marker = STATIC / ".npm.json"
    if marker.exists() and json.loads(marker.read_text()) == {k: v[0] for k, v in NPM.items()}:
        return
    shutil.rmtree(STATIC, ignore_errors=True)
    tmp = BUILD / "static-tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    # html-manager: embed-amd.js and the fonts it references (webpack resolves them next to the script)
    _extract(npm_tarball("@jupyter-widgets/html-manager"), ["dist"], tmp / "hm")
    widgets = STATIC / "widgets"
    widgets.mkdir(parents=True)
    for f in (tmp / "hm" / "dist").iterdir():
        if f.name == "embed-amd.js" or f.suffix in {".woff", ".woff2", ".ttf", ".eot", ".svg"} or f.name.endswith("LICENSE.txt"):
            shutil.copy2(f, widgets / f.name)
    _extract(npm_tarball("requirejs"), ["require.js"], tmp / "rq")
    shutil.copy2(tmp / "rq" / "require.js", STATIC / "require.js")
    _extract(npm_tarball("mathjax"), ["es5/tex-chtml.js", "es5/input/tex/extensions", "es5/output/chtml/fonts/woff-v2",
                                      "es5/ui", "es5/a11y", "LICENSE"], tmp / "mj")
    shutil.copytree(tmp / "mj" / "es5", STATIC / "mathjax")
    shutil.copy2(tmp / "mj" / "LICENSE", STATIC / "mathjax" / "LICENSE")
    shutil.rmtree(tmp)
    marker.write_text(json.dumps({k: v[0] for k, v in NPM.items()}))


# --------------------------------------------------------------------------------------------------
# 5. No other host
# --------------------------------------------------------------------------------------------------
class _Refs(HTMLParser):
    ATTRS = {"script": "src", "link": "href", "img": "src", "iframe": "src", "source": "src", "video": "src",
             "audio": "src", "embed": "src", "object": "data", "track": "src"}

    def __init__(self):
        super().__init__()
        self.refs = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        key = self.ATTRS.get(tag)
        if key and a.get(key):
            if tag == "link" and (a.get("rel") or "") in ("canonical",):
                return
            self.refs.append((tag, a[key]))
        if a.get("srcset"):
            self.refs.append((tag, a["srcset"]))


_external = re.compile(r"^\s*(https?:)?//", re.I)
_css_url = re.compile(r"""(?:url\(\s*['"]?|@import\s+['"])\s*((?:https?:)?//[^'")\s]+)""", re.I)


def external_references(site: Path) -> list[str]:
    "Every script, style sheet, image, frame or font a page or style sheet would load from another host."
    bad = []
    for page in sorted(site.rglob("*.html")):
        p = _Refs()
        p.feed(page.read_text(encoding="utf-8", errors="replace"))
        bad += [f"{page.relative_to(site)}: <{t}> {u}" for t, u in p.refs if _external.match(u)]
    for css in sorted(site.rglob("*.css")):
        text = re.sub(r"/\*.*?\*/", "", css.read_text(encoding="utf-8", errors="replace"), flags=re.S)
        bad += [f"{css.relative_to(site)}: {u}" for u in _css_url.findall(text)]
    return bad


# --------------------------------------------------------------------------------------------------
def build(force=False, flags="", execute_only=False) -> Path | None:
    t_all = time.time()
    os.chdir(ROOT)  # nbdev finds settings.ini from the working directory
    cfg = settings()
    skip_flags = set(cfg.get("tst_flags", "").replace("|", " ").split()) - set(flags.split())
    nbs = notebooks()
    if not any(p.name == "index.ipynb" for p in nbs):
        sys.exit("docs: nbs/index.ipynb (the home page) is missing")
    builder = sha(Path(__file__).read_bytes(), (DOCS / "conf.py").read_bytes(),
                  *[p.read_bytes() for p in sorted((DOCS / "_static").rglob("*")) if p.is_file()],
                  *[p.relative_to(NBS).as_posix().encode() + p.read_bytes() for p in sorted(NBS.rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES])
    keys = {p: sha(BUILDER_VERSION.encode(), source_digest(p), package_digest(notebook_code(p)),
                   " ".join(sorted(skip_flags)).encode()) for p in nbs}
    site_key = sha(builder.encode(), *[f"{p.name}:{k}".encode() for p, k in keys.items()])
    if not force and not execute_only and STAMP.exists() and json.loads(STAMP.read_text()).get("key") == site_key:
        log(f"site is up to date: {SITE}")
        return SITE

    # 1. execute (or reuse)
    t0 = time.time()
    executed, timings = execute_all(nbs, keys, skip_flags, force)
    t_exec = time.time() - t0
    if execute_only:
        log(f"executed {len(timings)} and reused {len(nbs) - len(timings)} of {len(nbs)} notebooks in {t_exec:.1f} s: all passed")
        return None

    # 2.-3. nbdev processors (no execution: fast, in this process)
    t0 = time.time()
    shutil.rmtree(SRC, ignore_errors=True)
    SRC.mkdir(parents=True)
    pages = {p: page_name(p) for p in nbs}
    for p in nbs:
        process_one(executed[p], SRC / f"{pages[p]}.ipynb")
    index = SRC / "index.ipynb"
    nb = json.loads(index.read_text(encoding="utf-8"))
    nb["cells"].append(toctree_cell([pages[p] for p in nbs]))
    index.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    for img in NBS.rglob("*"):  # images referenced from markdown cells
        if img.suffix.lower() in IMAGE_SUFFIXES and not any(part.startswith((".", "_")) for part in img.relative_to(NBS).parts):
            out = SRC / img.relative_to(NBS)
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(img, out)
    t_proc = time.time() - t0

    # 4. JavaScript
    t0 = time.time()
    fetch_static()
    t_static = time.time() - t0

    # 5. Sphinx
    t0 = time.time()
    shutil.rmtree(SITE, ignore_errors=True)
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-c", str(DOCS), "-d", str(BUILD / "doctrees"),
           "-E", str(SRC), str(SITE)]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    warnings = [l for l in r.stderr.splitlines() if "WARNING" in l or "ERROR" in l]
    sys.stderr.write(r.stderr)
    if r.returncode:
        sys.exit(f"docs: sphinx-build failed (exit {r.returncode})")
    t_sphinx = time.time() - t0
    bad = external_references(SITE)
    if bad:
        print(*bad, sep="\n", file=sys.stderr)
        sys.exit(f"docs: {len(bad)} references to other hosts in the built site (listed above)")
    STAMP.write_text(json.dumps({"key": site_key, "pages": sorted(pages.values()), "executed_s": timings,
                                 "sphinx_warnings": len(warnings)}, indent=1))
    log(f"site: {SITE}/index.html, {len(nbs)} pages; execute {t_exec:.1f} s, nbdev processing {t_proc:.1f} s, "
        f"npm assets {t_static:.1f} s, sphinx {t_sphinx:.1f} s ({len(warnings)} warnings); total {time.time() - t_all:.1f} s")
    return SITE


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--force", action="store_true", help="ignore the caches and rebuild everything")
    ap.add_argument("--flags", default="", help="space-separated test flags whose cells to run too (e.g. 'slow')")
    ap.add_argument("--execute-only", action="store_true",
                    help="only execute the notebooks (as nbdev_test, keeping outputs in the cache): a notebook test run")
    ap.add_argument("--execute-one", nargs=2, metavar=("NOTEBOOK", "DEST"), help=argparse.SUPPRESS)
    ap.add_argument("--skip-flags", default="", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.execute_one:
        execute_one(Path(a.execute_one[0]).resolve(), Path(a.execute_one[1]).resolve(), set(a.skip_flags.split()))
        return
    build(force=a.force, flags=a.flags, execute_only=a.execute_only)


if __name__ == "__main__":
    main()
