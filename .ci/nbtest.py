"""Run the notebooks' tests with nbdev_test, failing loudly if no notebook is found.

`nbdev_test` exits 0 with "No files were eligible for testing" when nothing matches and prints no
count, so we count the notebooks ourselves and print a closing line of our own.
Extra arguments are passed to nbdev_test (e.g. `--flags slow`).
"""
import subprocess, sys, time
from pathlib import Path

root = Path(__file__).resolve().parents[1]
nbs = sorted(p for p in (root / "nbs").glob("*.ipynb") if not p.name.startswith("_"))
if not nbs:
    print("nbtest: FAIL: no notebook found under nbs/"); sys.exit(1)
t0 = time.time()
cmd = [str(Path(sys.executable).parent / "nbdev_test"), "--n_workers", "1", "--timing", "--do_print", *sys.argv[1:]]
r = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
out = r.stdout + r.stderr
print(out)
if "No files were eligible" in out:
    print("nbtest: FAIL: nbdev_test found no notebook"); sys.exit(1)
print(f"nbtest: {len(nbs)} notebooks, exit {r.returncode}, {time.time()-t0:.0f} s")
sys.exit(r.returncode)
