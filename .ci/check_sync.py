"""Fail when lrc_nb/ is out of sync with the notebooks, a notebook is not clean, or README.md is stale.

Runs `nbdev_export` and `nbdev_clean`, then asks git whether anything under lrc_nb/ or nbs/
changed or appeared (untracked files count: a new module that was never committed). README.md must be
what `make readme` (docs/readme.py) writes from nbs/index.ipynb.
"""
import subprocess, sys
from pathlib import Path

root = Path(__file__).resolve().parents[1]
bin_dir = Path(sys.executable).parent

def status(path):
    out = subprocess.run(["git", "status", "--porcelain", "--", path], cwd=root,
                         capture_output=True, text=True, check=True).stdout
    return [l for l in out.splitlines() if l.strip()]

before = {p: status(p) for p in ("lrc_nb", "nbs")}
if any(before.values()):
    print("Working tree already differs from HEAD before the check:", before)
ok = True
for cmd, path, what in ((["nbdev_export"], "lrc_nb", "lrc_nb/ is out of sync with nbs/ (run `make export` and commit)"),
                        (["nbdev_clean"], "nbs", "notebooks are not clean (run `make export` and commit)")):
    subprocess.run([str(bin_dir / cmd[0]), *cmd[1:]], cwd=root, check=True)
    changed = [l for l in status(path) if l not in before[path]]
    if changed:
        ok = False
        print(f"FAIL: {what}:", *changed, sep="\n  ")
        subprocess.run(["git", "--no-pager", "diff", "--stat", "--", path], cwd=root)
if subprocess.run([sys.executable, str(root / "docs" / "readme.py"), "--check"], cwd=root).returncode:
    ok = False
if not ok: sys.exit(1)
print("sync-check: lrc_nb/ matches nbs/, every notebook is clean, README.md matches nbs/index.ipynb")
