"""The LRE's GPU code paths against a CPU reference, in float64, on tiny random models (the architectures of
`tests/test_architectures.py`, built from configs: no download).

On a CUDA device the library takes paths a CPU run never takes by default: exact and fast pack the suffixes of a
group into one row (`pack_suffixes=None` -> True on a GPU; the fast estimator pads them where packing is refused),
and the sums, QR and SVD stay on the device. This checks,
per architecture:
  - exact per-prompt J on the GPU (default settings) vs whole prompts without a cache on the CPU;
  - the fast estimator on the GPU with a full sketch (k + oversample = d, no power iteration: exact up to
    rounding; k = W's numerical rank) vs the exact rank-k pseudo-inverse and the bias from the CPU.
Exit status 1 if an error exceeds its bound (`TOL`: the issue's 1e-5 for J, W_k and b; 1e-3 for the
pseudo-inverse). The models are float64, but HF's RMSNorm (Llama, Qwen2, Gemma, Phi-3, OLMo, ...) computes in
float32 and casts back. On the CPU both sides round alike (J equal on those models, W_k from JVPs within ~1e-7);
across devices the rounding differs (H200: J 1.5e-7 to 8.8e-7 on the RMSNorm models, ~4e-8 on NeoX and Falcon,
cause not traced, ~1e-15 on GPT-2, GPT-J, OPT), and the pseudo-inverse amplifies it by the tiny random W's
condition number (up to 1.6e-4). The failure this guards against is of another size: padded suffixes on a
sliding-window model gave a NaN J before `_linearize` regrouped them.

    python bench/gpu_correctness.py --json OUT.json       # on a machine with a CUDA GPU
    python bench/gpu_correctness.py --device cpu          # the same checks on the CPU (packs / pads only if --pack / --pad)
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT)); sys.path.insert(0, str(ROOT / "tests"))

import test_architectures as TA  # noqa: E402  (tiny models, tokenizer and prompts of the test suite)
from lrc_nb import lre as L  # noqa: E402


TOL = {"J": 1e-5, "fast_Wk_full_sketch": 1e-5, "fast_bias": 1e-5, "fast_pinv_full_sketch": 1e-3}


def rel(a, b): return ((a.cpu() - b.cpu()).norm() / b.cpu().norm()).item()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--pad", action="store_true", help="force pad_suffixes=True on any device")
    ap.add_argument("--pack", action="store_true", help="force pack_suffixes=True (the GPU default) on any device")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    prompts = TA.lre_prompts()
    tok, ls, lo, out, bad = TA.tok_(), 1, 2, {}, []
    kw = dict(progress=False, **({"pad_suffixes": True} if args.pad else {}), **({"pack_suffixes": True} if args.pack else {}))
    for name in TA.NAMES:
        cpu = copy.deepcopy(TA.tiny_model(name)).double()
        ref = L.prompt_jacobians(cpu, tok, prompts, ls, lo, prefix_cache=False, progress=False)
        lre = L.train_lre(cpu, tok, prompts, ls, lo, prefix_cache=False, progress=False)
        d, S = lre.weight.shape[0], torch.linalg.svdvals(lre.weight)
        k = int((S > L._rank_tol(S, d)).sum())  # the numerical rank (tiny random W can be rank-deficient)
        full = lre.invert(k)
        gpu = copy.deepcopy(cpu).to(args.device)
        J = L.prompt_jacobians(gpu, tok, prompts, ls, lo, **kw).J
        fast = L.train_lre_fast(gpu, tok, prompts, ls, lo, rank=k, oversample=d - k, power_iters=0, **kw)
        r = {"J": rel(J, ref.J), "fast_pinv_full_sketch": rel(fast.pinv, full.pinv), "fast_Wk_full_sketch": rel(fast.weight, full.weight), "fast_bias": rel(fast.bias, lre.bias)}
        out[name] = r
        ok = all(v < TOL[k] for k, v in r.items())  # also False for NaN
        if not ok: bad.append(name)
        print(f"{name:18s} " + "  ".join(f"{k} {v:.1e}" for k, v in r.items()) + ("" if ok else "  FAIL"), flush=True)
        assert not any("forward" in m.__dict__ for m in gpu.modules()), name
    dev = torch.cuda.get_device_name() if torch.device(args.device).type == "cuda" else args.device
    print(f"{len(out)} architectures on {dev}: " + (f"FAILED {bad}" if bad else f"all within {TOL}"))
    if args.json:
        Path(args.json).write_text(json.dumps({"device": dev, "torch": torch.__version__, "pad": args.pad, "pack": args.pack,
                                               "errors": out, "failed": bad}, indent=1) + "\n")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
