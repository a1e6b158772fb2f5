"""LRE training speed and accuracy: the peer (`linear-relational` 0.6.2) against our exact and fast LRE.

CPU, real model, side by side in one run (same prompts, same layers, fp32):

    .venv/bin/python bench/lre_speed.py --model smollm2 --prompts 20 --rank 64 --json OUT.json
    .venv/bin/python bench/lre_speed.py --model smollm2 --prompts 20 --rank 64 --json OUT.json --no-peer

GPU, random weights at a 7B shape (timing and peak memory only; no peer, no tokenizer):

    .venv/bin/python bench/lre_speed.py --device cuda --dtype float16 --config llama2-7b --json OUT.json
    .venv/bin/python bench/lre_speed.py --device cuda --dtype float16 --config gptj-6b --json OUT.json
    .venv/bin/python bench/lre_speed.py --device cpu --config llama2-7b-tiny --json OUT.json   # same code path, tiny

The peer runs in its own virtual environment (`bench/peer_env.sh` builds `.peer-venv`; `bench/peer_lre.py`
trains and times it). Its wall time is the one `Trainer.train_lre` call that `peer_lre.py` times; a small wrapper
(below, `_PEER_WRAPPER`) also records the CPU time of that same call, because this machine is shared and wall
times swing with the load (reported as `load_avg`).

Errors are relative Frobenius norms against OUR exact W (verified in nbs/03_lre.ipynb against finite
differences and plain autograd without a cache):
  w_rel_error.peer            ||W_peer - W|| / ||W||
  w_rel_error.fast            ||W_fast,k - W|| / ||W||         (includes the rank-k truncation itself, see
  w_rank_k_truncation_error   ||W_k - W|| / ||W||               this line: the best any rank-k W can do)
  w_rel_error_fast_vs_rank_k  ||W_fast,k - W_k|| / ||W_k||
  pinv_rel_error_fast         ||W†_fast,k - W†_k|| / ||W†_k||   (W†_k: exact rank-k pseudo-inverse)
  concept_cosine_fast         mean cosine between the concepts (normalised W†(mean o - b) per object) from the
                              fast and the exact rank-k inverse, on the training prompts' objects
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

CONFIGS = {
    # real shapes (random weights): Llama-2-7B and GPT-J-6B, with the paper's layers
    "llama2-7b": dict(arch="llama", hidden=4096, layers=32, heads=32, inter=11008, vocab=32000, ls=17, lo=21),
    "gptj-6b": dict(arch="gptj", hidden=4096, layers=28, heads=16, rotary=64, vocab=50400, ls=14, lo=20),
    # the same code path, shrunk so that it runs on a CPU in seconds
    "llama2-7b-tiny": dict(arch="llama", hidden=64, layers=32, heads=4, inter=172, vocab=32000, ls=17, lo=21),
    "gptj-6b-tiny": dict(arch="gptj", hidden=64, layers=28, heads=4, rotary=8, vocab=50400, ls=14, lo=20),
    # GPT-J-6B's depth, layers and head layout (head size 256, rotary 64) at width 512: CPU timings of its code path
    "gptj-6b-d512": dict(arch="gptj", hidden=512, layers=28, heads=2, rotary=64, vocab=50400, ls=14, lo=20),
}
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}

_PEER_WRAPPER = r"""
import json, runpy, sys, time
from linear_relational import Trainer
_orig, calls = Trainer.train_lre, []
def timed(self, *a, **k):
    w, c = time.perf_counter(), time.process_time()
    try: return _orig(self, *a, **k)
    finally: calls.append({"n": len(k.get("prompts", [])), "wall": time.perf_counter() - w, "cpu": time.process_time() - c})
Trainer.train_lre = timed
out, script = sys.argv[1], sys.argv[2]
sys.argv = sys.argv[2:]
try: runpy.run_path(script, run_name="__main__")
finally: json.dump(calls, open(out, "w"))
"""


def sync(device):
    if torch.device(device).type == "cuda": torch.cuda.synchronize()


def timed(fn, device):
    sync(device)
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    sync(device)
    return out, time.perf_counter() - w, time.process_time() - c


def rel(a, b): return ((a - b).norm() / b.norm()).item()


# ------------------------------------------------------------------------------------------- prompts
def real_prompts(tok, n, relation, seed):
    "n few-shot training prompts of a relation: the shared Hernandez data if present, else the package's own."
    from lrc_nb import data as D
    shared = D.shared_relations_dir()
    rel = None
    if shared is not None:
        hits = sorted(Path(shared).rglob(relation.replace(" ", "_") + ".json"))
        if hits: rel = D.load_relation(hits[0])
    if rel is None:
        rels = {r.name: r for r in D.package_relations()}
        rel = rels.get(relation.replace("_", " ")) or rels["city in country"]
    prompts = D.make_train_prompts(D.split_samples(rel, seed=seed), n_shots=3, seed=seed, n_templates=1)
    prompts = D.balanced_sample(prompts, n, seed=seed)
    if len(prompts) < n: raise SystemExit(f"relation {rel.name!r} gives only {len(prompts)} prompts")
    return rel.name, prompts[:n]


def synthetic_prompts(n, vocab, seed):
    "Tokenizer-free prompts of ~40 tokens: random ids, the subject 1-2 tokens before the prompt's end, 1-4 answer tokens."
    from lrc_nb.lre import TokenizedPrompt
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        lp = int(torch.randint(34, 39, (1,), generator=g))
        a = int(torch.randint(1, 5, (1,), generator=g))
        u = int(torch.randint(1, 3, (1,), generator=g))
        ids = torch.randint(100, vocab, (lp + a,), generator=g).tolist()
        out.append(TokenizedPrompt(tuple(ids), lp - 1 - u, tuple(range(lp - 1, lp + a - 1))))
    return out


def random_model(name, device, dtype):
    import transformers as T
    c = CONFIGS[name]
    if c["arch"] == "llama":
        cfg = T.LlamaConfig(vocab_size=c["vocab"], hidden_size=c["hidden"], intermediate_size=c["inter"],
                            num_hidden_layers=c["layers"], num_attention_heads=c["heads"], num_key_value_heads=c["heads"],
                            max_position_embeddings=4096)
    else:
        cfg = T.GPTJConfig(vocab_size=c["vocab"], n_embd=c["hidden"], n_layer=c["layers"], n_head=c["heads"],
                           rotary_dim=c["rotary"], n_positions=2048)
    torch.manual_seed(0)
    with torch.device(device):
        model = T.AutoModelForCausalLM.from_config(cfg, dtype=dtype)
    return model.eval()


# ------------------------------------------------------------------------------------------- peer
def run_peer(args, prompts, ls, lo, work):
    env_sh = ROOT / "bench" / "peer_env.sh"
    script = ROOT / "bench" / "peer_lre.py"
    for _ in range(60):  # another helper writes these; wait for them rather than writing our own copy
        if env_sh.exists() and script.exists(): break
        print("waiting for bench/peer_env.sh and bench/peer_lre.py ...", file=sys.stderr); time.sleep(10)
    else: raise SystemExit("bench/peer_env.sh or bench/peer_lre.py missing")
    subprocess.run(["bash", str(env_sh)], check=True)
    cfg = {"model": args.model, "subject_layer": ls, "object_layer": lo, "object_aggregation": args.aggregation,
           "prompts": [{"text": p.text, "subject": p.subject, "answer": p.answer} for p in prompts],
           "device": "cpu", "dtype": args.dtype, "warmup": 1, "threads": torch.get_num_threads()}
    (work / "peer.json").write_text(json.dumps(cfg))
    py = os.environ.get("PEER_PYTHON", str(ROOT / ".peer-venv" / "bin" / "python"))
    cmd = [py, "-c", _PEER_WRAPPER, str(work / "calls.json"), str(script), str(work / "peer.json"),
           str(work / "peer.safetensors"), str(work / "peer_out.json")]
    subprocess.run(cmd, check=True, cwd=ROOT)
    from safetensors.torch import load_file
    wb = load_file(str(work / "peer.safetensors"))
    info = json.loads((work / "peer_out.json").read_text())
    calls = [c for c in json.loads((work / "calls.json").read_text()) if c["n"] == len(prompts)]
    return wb["W"], wb["b"], info["train_seconds"], (calls[-1]["cpu"] if calls else None)


# ------------------------------------------------------------------------------------------- main
def concepts(inv, o, objects):
    z = inv(o)
    vs = []
    for y in dict.fromkeys(objects):
        v = z[[i for i, x in enumerate(objects) if x == y]].mean(0)
        vs.append(v / v.norm())
    return torch.stack(vs)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--config", choices=sorted(CONFIGS), help="random-weight model of this shape (no peer)")
    ap.add_argument("--prompts", type=int, default=20)
    ap.add_argument("--rank", type=int, default=None, help="fast LRE rank (default 64; 192 with --config)")
    ap.add_argument("--ranks", default="16,32,64,128,256", help="ranks for the time/error sweep ('' to skip)")
    ap.add_argument("--json", required=True)
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default=None, choices=sorted(DTYPES), help="float32 on CPU, float16 with --config on a GPU")
    ap.add_argument("--subject-layer", type=int, default=None)
    ap.add_argument("--object-layer", type=int, default=None)
    ap.add_argument("--aggregation", default="mean", choices=["mean", "first_token"])
    ap.add_argument("--relation", default="country_capital_city")
    ap.add_argument("--oversample", type=int, default=16)
    ap.add_argument("--power-iters", type=int, default=1)
    ap.add_argument("--block", type=int, default=None, help="fast: vectors per round (default: train_lre_fast's)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.threads: torch.set_num_threads(args.threads)
    from lrc_nb.lre import train_lre, train_lre_fast
    dev = args.device
    synthetic = args.config is not None
    args.dtype = args.dtype or ("float16" if synthetic and dev != "cpu" else "float32")
    dtype = DTYPES[args.dtype]
    rank = args.rank or (192 if synthetic else 64)
    load0 = os.getloadavg()[0]

    if synthetic:
        c = CONFIGS[args.config]
        model, tok = random_model(args.config, dev, dtype), None
        ls = c["ls"] if args.subject_layer is None else args.subject_layer
        lo = c["lo"] if args.object_layer is None else args.object_layer
        prompts, relation, model_name = synthetic_prompts(args.prompts, c["vocab"], args.seed), "synthetic", args.config
        args.no_peer = True
    else:
        from lrc_nb.models import load_model
        model, tok = load_model(args.model, dtype=dtype, device=dev)
        ls = 15 if args.subject_layer is None else args.subject_layer
        lo = 21 if args.object_layer is None else args.object_layer
        relation, prompts = real_prompts(tok, args.prompts, args.relation, args.seed)
        model_name = args.model
    from lrc_nb.models import hidden_size, resolve_layer
    ls, lo = resolve_layer(model, ls), resolve_layer(model, lo)
    d = hidden_size(model)
    kw = dict(object_aggregation=args.aggregation, batch_size=args.batch_size, progress=False)
    print(f"{model_name}: d={d}, layers {ls} -> {lo}, {len(prompts)} prompts ({relation}), {dev} {args.dtype}, "
          f"{torch.get_num_threads()} threads, load average {load0:.1f}", file=sys.stderr)

    # warm-up (first-call costs: kernels, lazy inits), then the timed runs
    train_lre(model, tok, prompts[:1], ls, lo, **kw)
    train_lre_fast(model, tok, prompts[:1], ls, lo, rank=min(8, d), **kw)
    if dev != "cpu" and torch.device(dev).type == "cuda": torch.cuda.reset_peak_memory_stats()
    lre, t_exact, c_exact = timed(lambda: train_lre(model, tok, prompts, ls, lo, **kw), dev)
    mem_exact = torch.cuda.max_memory_allocated() if torch.device(dev).type == "cuda" else None
    if torch.device(dev).type == "cuda": torch.cuda.reset_peak_memory_stats()
    fast, t_fast, c_fast = timed(lambda: train_lre_fast(model, tok, prompts, ls, lo, rank=rank, oversample=args.oversample,
                                                        power_iters=args.power_iters, block=args.block, seed=args.seed, **kw), dev)
    mem_fast = torch.cuda.max_memory_allocated() if torch.device(dev).type == "cuda" else None

    W = lre.weight.double()
    exact_k = lre.invert(rank)
    Wk = exact_k.weight.double()
    res = {"model": model_name, "device": dev, "dtype": args.dtype, "d": d, "rank": rank, "prompts": len(prompts),
           "relation": relation, "subject_layer": ls, "object_layer": lo, "object_aggregation": args.aggregation,
           "threads": torch.get_num_threads(), "oversample": args.oversample, "power_iters": args.power_iters,
           "block": fast.metadata["block"],
           "seconds": {"peer": None, "exact": t_exact, "fast": t_fast},
           "cpu_seconds": {"peer": None, "exact": c_exact, "fast": c_fast},
           "w_rel_error": {"peer": None, "fast": rel(fast.weight.double(), W)},
           "w_rank_k_truncation_error": rel(Wk, W),
           "w_rel_error_fast_vs_rank_k": rel(fast.weight.double(), Wk),
           "pinv_rel_error_fast": rel(fast.pinv.double(), exact_k.pinv.double()),
           "bias_rel_error_fast": rel(fast.bias.double(), lre.bias.double()),
           "peak_gib": {"exact": mem_exact / 2**30 if mem_exact else None, "fast": mem_fast / 2**30 if mem_fast else None},
           "fast_passes": fast.metadata.get("passes"), "torch": torch.__version__}
    if not synthetic:
        from lrc_nb.extraction import extract_object_states
        o = extract_object_states(model, tok, [p.text for p in prompts], [p.answer for p in prompts], [lo],
                                  aggregation=args.aggregation)[lo]
        objs = [p.answer for p in prompts]
        res["concept_cosine_fast"] = (concepts(fast, o, objs) * concepts(exact_k, o, objs)).sum(-1).mean().item()

    sweep = []
    for k in [int(x) for x in args.ranks.split(",") if x.strip()]:
        if k > d: continue
        inv, t, c = timed(lambda: train_lre_fast(model, tok, prompts, ls, lo, rank=k, oversample=args.oversample,
                                                 power_iters=args.power_iters, block=args.block, seed=args.seed, **kw), dev)
        ek = lre.invert(k)
        sweep.append({"rank": k, "seconds": t, "cpu_seconds": c, "pinv_rel_error": rel(inv.pinv.double(), ek.pinv.double()),
                      "w_rel_error_vs_rank_k": rel(inv.weight.double(), ek.weight.double()),
                      "passes": inv.metadata.get("passes")})
    res["rank_sweep"] = sweep

    if not args.no_peer:
        with tempfile.TemporaryDirectory() as tmp:
            Wp, bp, t_peer, c_peer = run_peer(args, prompts, ls, lo, Path(tmp))
        res["seconds"]["peer"], res["cpu_seconds"]["peer"] = t_peer, c_peer
        res["w_rel_error"]["peer"] = rel(Wp.double(), W)
        res["bias_rel_error_peer"] = rel(bp.double(), lre.bias.double())
    res["load_avg"] = {"start": load0, "end": os.getloadavg()[0]}

    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    print_table(res)
    return res


def print_table(r):
    s, c = r["seconds"], r["cpu_seconds"]
    f = lambda x, p=2: "-" if x is None else f"{x:.{p}f}"
    print(f"\n{r['model']} on {r['device']} ({r['dtype']}), d={r['d']}, layers {r['subject_layer']} -> {r['object_layer']}, "
          f"{r['prompts']} prompts, rank {r['rank']}, load average {r['load_avg']['start']:.1f} -> {r['load_avg']['end']:.1f}")
    print(f"{'method':8s} {'wall s':>8s} {'cpu s':>8s} {'W rel err':>10s}")
    print(f"{'peer':8s} {f(s['peer']):>8s} {f(c['peer']):>8s} {f(r['w_rel_error']['peer'], 3):>10s}")
    print(f"{'exact':8s} {f(s['exact']):>8s} {f(c['exact']):>8s} {'0 (ref)':>10s}")
    print(f"{'fast':8s} {f(s['fast']):>8s} {f(c['fast']):>8s} {f(r['w_rel_error']['fast'], 3):>10s}"
          f"   (rank-{r['rank']} truncation alone: {r['w_rank_k_truncation_error']:.3f})")
    if s["peer"]:
        print(f"peer/exact {s['peer'] / s['exact']:.2f}x wall, {c['peer'] / c['exact']:.2f}x cpu;  "
              f"peer/fast {s['peer'] / s['fast']:.2f}x wall, {c['peer'] / c['fast']:.2f}x cpu")
    print(f"exact/fast {s['exact'] / s['fast']:.2f}x wall;  fast W† vs exact rank-{r['rank']} W†: "
          f"{r['pinv_rel_error_fast']:.2e};  fast W_k vs exact W_k: {r['w_rel_error_fast_vs_rank_k']:.2e}"
          + (f";  concept cosine {r['concept_cosine_fast']:.4f}" if "concept_cosine_fast" in r else ""))
    if r["peak_gib"]["exact"]: print(f"peak GPU memory: exact {r['peak_gib']['exact']:.1f} GiB, fast {r['peak_gib']['fast']:.1f} GiB")
    if r["rank_sweep"]:
        print(f"{'rank':>6s} {'wall s':>8s} {'cpu s':>8s} {'vs exact':>9s} {'W† err':>9s} {'W_k err':>9s}")
        for x in r["rank_sweep"]:
            print(f"{x['rank']:>6d} {x['seconds']:>8.2f} {x['cpu_seconds']:>8.2f} {s['exact'] / x['seconds']:>8.2f}x "
                  f"{x['pinv_rel_error']:>9.2e} {x['w_rel_error_vs_rank_k']:>9.2e}")


if __name__ == "__main__":
    main()
