"""Mutation check: does a test fail when the code it tests is wrong?

Each mutant replaces one unique piece of text in an exported notebook cell (and the same text in the module
`nbdev_export` writes from it), in a copy of the working tree; the notebook's own tests run on it (`nbdev_test`),
then any pytest files listed. A mutant no test fails ("SURVIVED") points at a test that cannot fail.

    .venv/bin/python tools/mutation_check.py tools/mutants/lre_concepts.json            # all mutants of the file
    .venv/bin/python tools/mutation_check.py tools/mutants/lre_concepts.json L04 C05     # some of them
    .venv/bin/python tools/mutation_check.py FILE --pytest tests/test_concepts.py        # also these pytest files

A mutants file is a JSON list of {"id", "notebook", "old", "new", "why"}. Every test run holds the CPU lock
(`flock /tmp/lrc_cpu.lock`) so that timings elsewhere are not disturbed. Nothing in the working tree is changed:
the copy lives in a temporary folder (`--keep` leaves it for a look at the logs).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP = {".venv", ".peer-venv", ".git", "_build", "__pycache__", ".whl"}


def module_of(nb: Path) -> Path:
    "The module a notebook exports to (`#| default_exp name`)."
    for c in json.loads(nb.read_text())["cells"]:
        for line in "".join(c["source"]).splitlines():
            if line.startswith("#| default_exp"): return Path("lrc_nb") / (line.split()[-1].replace(".", "/") + ".py")
    raise SystemExit(f"{nb}: no #| default_exp")


def mutate(repo: Path, m: dict):
    "Apply mutant `m` in `repo`: the one exported cell holding `old` once, and the module holding it once."
    nbp = repo / m["notebook"]
    nb = json.loads(nbp.read_text())
    hits = [c for c in nb["cells"] if c["cell_type"] == "code" and m["old"] in "".join(c["source"])]
    srcs = ["".join(c["source"]) for c in hits]
    if len(hits) != 1 or srcs[0].count(m["old"]) != 1 or not srcs[0].startswith("#| export"):
        raise ValueError(f"{m['id']}: the text must occur once, in one exported cell (found in {len(hits)} cells)")
    at = srcs[0].index(m["old"])
    # indented text must start a line: matched inside a deeper-indented line, a mutant that removes it leaves stray
    # indentation, and the notebook then fails on an IndentationError, a kill for the wrong reason
    if m["old"][:1] in " \t" and at > 0 and srcs[0][at - 1] != "\n":
        raise ValueError(f"{m['id']}: the text starts with indentation but matches inside a line (re-indented code?)")
    hits[0]["source"] = srcs[0].replace(m["old"], m["new"]).splitlines(keepends=True)
    nbp.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    py = repo / module_of(nbp)
    text = py.read_text()
    if text.count(m["old"]) != 1: raise ValueError(f"{m['id']}: {py.name} holds the text {text.count(m['old'])} times")
    py.write_text(text.replace(m["old"], m["new"]))


def run(cmd, repo: Path, log: Path) -> int:
    env = dict(os.environ, PYTHONPATH=str(repo))
    with open(log, "w") as f:
        return subprocess.run(["flock", "/tmp/lrc_cpu.lock", "nice", "-n", "10", *cmd], cwd=repo, env=env,
                              stdout=f, stderr=subprocess.STDOUT).returncode


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mutants", help="a JSON list of mutants")
    ap.add_argument("ids", nargs="*", help="only these mutants")
    ap.add_argument("--pytest", nargs="*", default=[], help="pytest files to run on mutants the notebook misses")
    ap.add_argument("--keep", action="store_true", help="keep the temporary copy and its logs")
    args = ap.parse_args(argv)
    mutants = json.loads(Path(args.mutants).read_text())
    if args.ids: mutants = [m for m in mutants if m["id"] in set(args.ids)]
    bin_ = Path(sys.executable).parent
    tmp = Path(tempfile.mkdtemp(prefix="lrc_mut_"))
    repo, logs = tmp / "repo", tmp / "logs"
    shutil.copytree(ROOT, repo, ignore=lambda d, names: [n for n in names if n in SKIP])
    logs.mkdir()
    pristine = {p: (repo / p).read_bytes() for m in mutants for p in (m["notebook"], str(module_of(repo / m["notebook"])))}
    rows = []
    try:
        for m in mutants:
            for p, b in pristine.items(): (repo / p).write_bytes(b)
            try: mutate(repo, m)
            except ValueError as e: rows.append((m["id"], f"NOT APPLIED: {e}")); print(rows[-1]); continue
            t0 = time.time()
            verdict = "SURVIVED"
            if run([str(bin_ / "nbdev_test"), "--path", m["notebook"]], repo, logs / f"{m['id']}.nb.log"):
                verdict = f"killed by {m['notebook']}"
            elif args.pytest and run([str(bin_ / "python"), "-m", "pytest", "-q", "-x", *args.pytest], repo,
                                     logs / f"{m['id']}.pytest.log"):
                verdict = "killed by pytest"
            rows.append((m["id"], f"{verdict} ({time.time() - t0:.0f} s)"))
            print(f"{m['id']:5s} {rows[-1][1]}   {m.get('why', '')}", flush=True)
    finally:
        for p, b in pristine.items(): (repo / p).write_bytes(b)
        if args.keep: print(f"copy and logs: {tmp}")
        else: shutil.rmtree(tmp, ignore_errors=True)
    survived = [i for i, v in rows if v.startswith(("SURVIVED", "NOT APPLIED"))]
    print(f"{len(rows) - len(survived)} of {len(rows)} mutants killed" + (f"; not killed: {survived}" if survived else ""))
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
