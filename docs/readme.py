"""Write README.md from nbs/index.ipynb (what `nbdev_readme` does, without Quarto), or check it is current.

    python docs/readme.py           # write README.md and the figures it shows (nbs/images/<label>.svg)
    python docs/readme.py --check   # exit 1 when README.md differs from what index.ipynb gives (make test)

Markdown cells are copied; code cells become ```python blocks, without their `#|` directives. Cells marked
`#| hide`, `#| include: false`, `#| export...` or `#| default_exp` are left out, and so is the code of
`#| echo: false` cells. A cell with `#| label: fig-NAME` is a self-contained figure: the README shows
nbs/images/fig-NAME.svg, which the write mode draws by running that cell alone (matplotlib, Agg). Links to
notebooks and images next to index.ipynb are made relative to the repository root. Nothing is executed in
--check mode and outputs are never copied, so the check is fast and does not depend on the machine.
"""
from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / "nbs"
INDEX = NBS / "index.ipynb"
README = ROOT / "README.md"
HEADER = "<!-- Generated from nbs/index.ipynb by `make readme` (docs/readme.py): edit the notebook, not this file. -->"
_directive = re.compile(r"^\s*#\s*\|\s*(.*?)\s*$")
_HIDE = {"hide", "export", "exports", "exporti", "default_exp"}


def _src(cell) -> str:
    s = cell["source"]
    return "".join(s) if isinstance(s, list) else s


def split_directives(source: str) -> tuple[dict[str, list[str]], str]:
    lines = source.splitlines()
    d = {}
    while lines and (_directive.match(lines[0]) or not lines[0].strip()):
        m = _directive.match(lines.pop(0))
        if m and m.group(1).split():
            w = m.group(1).split()
            d[w[0]] = w[1:]
    return d, "\n".join(lines).strip("\n")


def relink(md: str) -> str:
    "Links to files next to index.ipynb (notebooks, images) are relative to the repository root in README.md."
    def fix(m):
        target = m.group(2)
        if re.match(r"^[a-z][a-z0-9+.-]*:|^#|^/", target, re.I):
            return m.group(0)
        path = target.split("#")[0]
        if path and (NBS / path).exists() or path.endswith(".ipynb"):
            return f"{m.group(1)}(nbs/{target})"
        return m.group(0)
    return re.sub(r"(!?\[[^\]]*\])\(([^)\s]+)\)", fix, md)


def figure_cells(nb) -> list[tuple[str, str]]:
    out = []
    for c in nb["cells"]:
        if c["cell_type"] == "code":
            d, code = split_directives(_src(c))
            label = (d.get("label:") or [""])[0]
            if label.startswith("fig-"):
                out.append((label, code))
    return out


def render(nb) -> str:
    parts = []
    for i, c in enumerate(nb["cells"]):
        src = _src(c)
        if c["cell_type"] == "markdown":
            parts.append(relink(src.strip("\n")))
            if i == 0:
                parts.append(HEADER)
        elif c["cell_type"] == "code":
            d, code = split_directives(src)
            if d.keys() & _HIDE or (d.get("include:") or [""])[0] == "false":
                continue
            label = (d.get("label:") or [""])[0]
            if label.startswith("fig-"):
                caption = (d.get("fig-cap:") or [])
                parts.append(f"![{' '.join(caption).strip(chr(34)) or label}](nbs/images/{label}.svg)")
            elif (d.get("echo:") or [""])[0] == "false" or not code:
                continue
            else:
                parts.append(f"```python\n{code}\n```")
    return "\n\n".join(parts).rstrip() + "\n"


def draw_figures(nb):
    "Run each figure cell alone and save its figure as nbs/images/<label>.svg (deterministic bytes)."
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams["svg.hashsalt"] = "lrc_nb"
    (NBS / "images").mkdir(exist_ok=True)
    for label, code in figure_cells(nb):
        plt.close("all")
        exec(compile(code, f"index.ipynb:{label}", "exec"), {"__name__": "__readme__"})
        if not plt.get_fignums():
            sys.exit(f"readme: figure cell {label} drew no figure")
        fig = plt.figure(plt.get_fignums()[-1])
        fig.savefig(NBS / "images" / f"{label}.svg", format="svg", metadata={"Date": None}, bbox_inches="tight")
        print(f"readme: wrote nbs/images/{label}.svg")
    plt.close("all")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only check that README.md is current")
    a = ap.parse_args(argv)
    nb = json.loads(INDEX.read_text(encoding="utf-8"))
    text = render(nb)
    if a.check:
        old = README.read_text(encoding="utf-8") if README.exists() else ""
        missing = [f"nbs/images/{label}.svg" for label, _ in figure_cells(nb) if not (NBS / "images" / f"{label}.svg").exists()]
        if old != text or missing:
            sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), text.splitlines(True), "README.md", "from nbs/index.ipynb"))
            if missing:
                print("missing figures:", *missing)
            print("FAIL: README.md is not what nbs/index.ipynb gives (run `make readme` and commit)")
            sys.exit(1)
        print("readme: README.md matches nbs/index.ipynb")
        return
    draw_figures(nb)
    README.write_text(text, encoding="utf-8")
    print("readme: wrote README.md")


if __name__ == "__main__":
    main()
