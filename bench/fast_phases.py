"""Where `train_lre_fast`'s time goes: set-up (`_Linearization`: plain forward pass, VJP recording), VJPs (`Wᵀ U`),
JVPs (`W V`, the transposed VJP: a double backward) and the rest (QR, SVD, host transfers), per configuration.

Random weights at a model's real shape, synthetic prompts (those of `lre_speed.py`); every phase is timed with the
device synchronised before and after; "rest" is the call minus the phases (the synchronisation itself costs a little):

    python bench/fast_phases.py --device cuda --config llama2-7b --json OUT.json --runs exact,fast:q1,fast:q0
    python bench/fast_phases.py --device cpu --config llama2-7b-tiny --json OUT.json      # the same code, tiny

A run may carry modifiers: `+pack` / `+nopack` packs a group's suffixes into one row or not (`pack_suffixes`; the
library packs on a GPU), `+pad` / `+nopad` pads them or groups prompts by suffix length where they are not packed
(`pad_suffixes`), `+noskip` runs blocks 0..l_s in every pass: `fast:q1+nopack+nopad+noskip` is the code before all
three. `+nofuse` runs HF's own chain of operators for `gelu_new` instead of its one-kernel twin (`_fused_twins`). `fast:q1:b104` pushes 104 vectors per round (`train_lre_fast`'s `block`) instead of its default.
"""
import argparse, json, sys, time
from collections import defaultdict
from contextlib import ExitStack
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import lre_speed as S  # noqa: E402
from lrc_nb import lre as L  # noqa: E402


class Phases:
    "Wraps `_Linearization`'s set-up, VJP and JVP with synchronised timers while active."
    def __init__(self, device):
        self.device, self.t, self.n = device, defaultdict(float), defaultdict(int)

    def wrap(self, name, fn):
        def inner(*a, **k):
            S.sync(self.device); t0 = time.perf_counter()
            try: return fn(*a, **k)
            finally:
                S.sync(self.device); self.t[name] += time.perf_counter() - t0; self.n[name] += 1
        return inner

    def __enter__(self):
        self.saved = {k: getattr(L._Linearization, k) for k in ("__init__", "jvp", "vjp")}
        init, jvp, vjp = self.saved["__init__"], self.saved["jvp"], self.saved["vjp"]
        def vjp_timed(lin):
            o, fn = vjp(lin)
            return o, self.wrap("vjp", fn)
        L._Linearization.__init__ = self.wrap("setup", init)
        L._Linearization.jvp = self.wrap("jvp", jvp)
        L._Linearization.vjp = vjp_timed
        return self

    def __exit__(self, *exc):
        for k, v in self.saved.items(): setattr(L._Linearization, k, v)


class NoSkip:
    "While active, `_Linearization` runs blocks 0..l_s in every pass (the code before the skip), for A/B runs."
    def __enter__(self):
        L._Linearization.skip = property(lambda self: False, lambda self, value: None)
    def __exit__(self, *exc):
        del L._Linearization.skip


class NoFuse:
    "While active, activations run as HF wrote them (no one-kernel twins), for A/B runs."
    def __enter__(self):
        self.saved, L._fused_twins = L._fused_twins, lambda model: []
    def __exit__(self, *exc):
        L._fused_twins = self.saved


def run(kind, model, prompts, ls, lo, rank, kw):
    """`exact` or `fast:qN`, then optional modifiers: `+pad` / `+nopad` (`pad_suffixes`; default: the library's
    choice for the device), `+pack` / `+nopack` (`pack_suffixes`), `+noskip` (blocks 0..l_s run in every pass),
    `+nofuse` (no one-kernel activation twins)."""
    base, *mods = kind.split("+")
    unknown = set(mods) - {"pad", "nopad", "noskip", "pack", "nopack", "nofuse"}
    if unknown: raise SystemExit(f"unknown modifiers {sorted(unknown)} in {kind!r}")
    kw = dict(kw)
    if "pad" in mods or "nopad" in mods: kw["pad_suffixes"] = "pad" in mods
    if "pack" in mods or "nopack" in mods: kw["pack_suffixes"] = "pack" in mods
    if base == "exact": f = lambda: L.train_lre(model, None, prompts, ls, lo, **kw)
    else:  # fast:qN, or fast:qN:bM (M vectors per round)
        q, *blk = base.split(":q")[1].split(":b")
        if blk: kw["block"] = int(blk[0])
        f = lambda: L.train_lre_fast(model, None, prompts, ls, lo, rank=rank, power_iters=int(q), **kw)
    ctx = [c for m, c in (("noskip", NoSkip), ("nofuse", NoFuse)) if m in mods]
    if not ctx: return f
    def modified():
        with ExitStack() as st:
            for c in ctx: st.enter_context(c())
            return f()
    return modified


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", choices=sorted(S.CONFIGS), required=True)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default=None, choices=sorted(S.DTYPES))
    ap.add_argument("--prompts", type=int, default=20)
    ap.add_argument("--rank", type=int, default=192)
    ap.add_argument("--runs", default="exact,fast:q1,fast:q0")
    ap.add_argument("--repeat", type=int, default=2, help="timed calls per configuration (after one warm-up call)")
    ap.add_argument("--json", required=True)
    args = ap.parse_args(argv)
    dev = args.device
    dtype = S.DTYPES[args.dtype or ("float16" if dev != "cpu" else "float32")]
    c = S.CONFIGS[args.config]
    model = S.random_model(args.config, dev, dtype)
    prompts = S.synthetic_prompts(args.prompts, c["vocab"], 0)
    ls, lo = c["ls"], c["lo"]
    kw = dict(progress=False)
    rank = min(args.rank, c["hidden"] // 2)
    out = {"config": args.config, "device": dev, "dtype": str(dtype), "rank": rank, "prompts": args.prompts,
           "gpu": torch.cuda.get_device_name() if torch.device(dev).type == "cuda" else None,
           "torch": torch.__version__, "runs": {}}
    for kind in args.runs.split(","):
        f = run(kind, model, prompts, ls, lo, rank, kw)
        f()  # warm-up
        rows = []
        for _ in range(args.repeat):
            with Phases(dev) as ph:
                _, wall, _ = S.timed(f, dev)
            rows.append({"wall": wall, **{k: round(v, 4) for k, v in ph.t.items()}, "calls": dict(ph.n)})
            rest = wall - sum(ph.t.values())
            print(f"{args.config} {kind:22s} wall {wall:7.3f} s  " + "  ".join(f"{k} {v:.3f} ({ph.n[k]})" for k, v in ph.t.items())
                  + f"  rest {rest:.3f}", flush=True)
        out["runs"][kind] = rows
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
