"""Old against new in one process: `lrc_nb/lre.py` of a git commit loaded beside the working tree's, alternating.

    flock /tmp/lrc_cpu.lock .venv/bin/python bench/lre_ab.py --base 27ccccf --rounds 3 --ranks 64,128 --json OUT.json
    flock /tmp/lrc_cpu.lock .venv/bin/python bench/lre_ab.py --base HEAD --new-kw pad_suffixes=True --ranks 64   # a setting

Both sides train the speed bench's relation (`lre_speed.real_prompts`: 20 prompts, SmolLM2 fp32, blocks 15 -> 21;
with `--config NAME`, a random-weight model of `lre_speed.CONFIGS` in float32 and its synthetic prompts and layers,
e.g. `--config gptj-6b-d512` for GPT-J's code path at a width the CPU runs in seconds):
`train_lre`, then `train_lre_fast` at each rank, base and new one after the other in every round (who goes first
alternates), so a slow spell of this shared machine hits both; the verdict is the per-round ratio new/base (median
and geometric mean over rounds). Prints each round, the medians and the ratios, and how far the new W and fast W†
are from the base's (they should agree to float32 rounding unless the change meant to alter them). Only
`lrc_nb/lre.py` comes from the base commit; the rest of the package is the working tree's.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import torch  # noqa: E402


def load_base(commit: str):
    "The module `lrc_nb/lre.py` as of `commit`, imported under another name (its attention function renamed too)."
    src = subprocess.run(["git", "-C", str(ROOT), "show", f"{commit}:lrc_nb/lre.py"], check=True,
                         capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "lre_base.py"
    path.write_text(src)
    name = "lrc_nb._lre_base"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses look their module up here
    spec.loader.exec_module(mod)
    if hasattr(mod, "_SPLIT_ATTN"): mod._SPLIT_ATTN = "lrc_nb_split_prefix_base"  # transformers keeps one function per name
    return mod


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", required=True, help="git commit whose lrc_nb/lre.py is the baseline")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--ranks", default="64", help="ranks of the fast estimator, comma-separated ('' for none)")
    ap.add_argument("--prompts", type=int, default=20)
    ap.add_argument("--relation", default="country capital city")
    ap.add_argument("--subject-layer", type=int, default=None, help="default 15 (SmolLM2) or the config's")
    ap.add_argument("--object-layer", type=int, default=None, help="default 21 (SmolLM2) or the config's")
    ap.add_argument("--config", default=None, help="a random-weight model of lre_speed.CONFIGS instead of SmolLM2")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", default=None)
    ap.add_argument("--new-kw", action="append", default=[], metavar="KEY=VALUE",
                    help="a keyword argument for the new side's calls only, a Python literal (e.g. pad_suffixes=True); "
                         "with --base HEAD this compares one setting against the default")
    args = ap.parse_args(argv)
    import ast
    new_kw = {k: ast.literal_eval(v) for k, v in (a.split("=", 1) for a in args.new_kw)}
    if args.threads: torch.set_num_threads(args.threads)
    import lrc_nb.lre as new
    from lrc_nb.models import load_model
    from lre_speed import CONFIGS, random_model, real_prompts, rel, synthetic_prompts, timed
    base = load_base(args.base)
    args.base = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", args.base], check=True,
                               capture_output=True, text=True).stdout.strip()  # HEAD -> the commit it was
    if args.config:
        c = CONFIGS[args.config]
        model, tok = random_model(args.config, "cpu", torch.float32), None
        relation, prompts = f"synthetic ({args.config})", synthetic_prompts(args.prompts, c["vocab"], 0)
        layers = c["ls"], c["lo"]
    else:
        model, tok = load_model("smollm2", dtype=torch.float32, device="cpu")
        relation, prompts = real_prompts(tok, args.prompts, args.relation, 0)
        layers = 15, 21
    ls = layers[0] if args.subject_layer is None else args.subject_layer
    lo = layers[1] if args.object_layer is None else args.object_layer
    ranks = [int(r) for r in args.ranks.split(",") if r.strip()]
    kw = lambda mod: new_kw if mod is new else {}
    # synthetic prompts come as each module's own TokenizedPrompt (the base checks for its class)
    ps = {id(mod): [mod.TokenizedPrompt(p.input_ids, p.subject_index, p.object_indices) for p in prompts] if args.config else prompts for mod in (base, new)}
    jobs = [("exact", lambda mod: mod.train_lre(model, tok, ps[id(mod)], ls, lo, progress=False, **kw(mod)))]
    jobs += [(f"fast{r}", lambda mod, r=r: mod.train_lre_fast(model, tok, ps[id(mod)], ls, lo, rank=r, progress=False,
                                                               **kw(mod)))
             for r in ranks]
    for _, fn in jobs[:2]:  # warm-up, untimed: exact and the first rank
        for mod in (base, new): fn(mod)
    times, last = {}, {}
    for i in range(args.rounds):
        for job, fn in jobs:
            order = (("base", base), ("new", new)) if i % 2 == 0 else (("new", new), ("base", base))  # who goes first alternates
            for side, mod in order:
                last[side, job], wall, _ = timed(lambda: fn(mod), "cpu")
                times.setdefault(f"{side} {job}", []).append(wall)
        print(f"round {i + 1}: " + ", ".join(f"{k} {v[-1]:.2f}" for k, v in times.items()), flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    agree = {"exact_w": rel(last["new", "exact"].weight, last["base", "exact"].weight),
             "exact_bias": rel(last["new", "exact"].bias, last["base", "exact"].bias)}
    agree.update({f"{job}_pinv": rel(last["new", job].pinv, last["base", job].pinv) for job, _ in jobs[1:]})
    print(f"{relation}, {len(prompts)} prompts, blocks {ls} -> {lo}, base {args.base}, new {new_kw or 'defaults'}, "
          f"{args.rounds} rounds (medians):")
    paired = {job: [n / b for b, n in zip(times[f"base {job}"], times[f"new {job}"])] for job, _ in jobs}  # per round
    for job, _ in jobs:
        b, n, r = med[f"base {job}"], med[f"new {job}"], paired[job]
        print(f"  {job:8s} base {b:7.2f} s  new {n:7.2f} s  new/base: per-round median {statistics.median(r):.3f}, "
              f"geometric mean {statistics.geometric_mean(r):.3f} (range {min(r):.3f}-{max(r):.3f}); ratio of medians {n / b:.3f}")
    print("  new vs base: " + ", ".join(f"{k} {v:.1e}" for k, v in agree.items()))
    if args.json:
        Path(args.json).write_text(json.dumps({"base": args.base, "new_kw": new_kw, "config": args.config, "relation": relation, "prompts": len(prompts),
                                               "layers": [ls, lo], "seconds": times, "median": med,
                                               "paired_ratio": {j: {"per_round": r, "median": statistics.median(r),
                                                                    "geometric_mean": statistics.geometric_mean(r)}
                                                                for j, r in paired.items()},
                                               "rel_diff_new_vs_base": agree, "torch": torch.__version__,
                                               "threads": torch.get_num_threads()}, indent=1))


if __name__ == "__main__":
    main()
