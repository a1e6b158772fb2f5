"""Which Krylov sketch does the fast estimator need? Its linear algebra on exact LREs, many sketch seeds, no model calls.

`train_lre_fast` sees `W` only through `W V` (JVPs) and `Wᵀ U` (VJPs), and those products are the exact `W`'s
up to rounding (`W` is the mean of the per-prompt Jacobians, so is each product). So a sketch configuration
(vectors per round, power iterations) can be judged on exact LREs alone: `lrc_nb.lre.krylov_svd` (the very
function `train_lre_fast` calls) is fed `matvec = W @ V`, `rmatvec = Wᵀ @ U`, and the resulting rank-k inverse
is scored as the fast estimator's would be: W† error against the exact rank-k W†, the cosine of each concept with
the exact one, and held-out classification accuracy against exact's (paired, same test prompts), over several
sketch seeds. Causality needs the model and is left to `bench/fast_accuracy.py`.

Step 1 (model, slow, cached): per relation and seed, as `bench/fast_accuracy.py` prepares it (split, validity
filter, 20 balanced LRE prompts), the exact LRE, the object states of the training prompts and the subject states
of the test prompts, stored as safetensors + JSON in `--cache`. Step 2 (seconds): every configuration.

    .venv/bin/python bench/krylov_sim.py --cache /tmp/krylov_cache --json OUT.json
    .venv/bin/python bench/krylov_sim.py --cache /tmp/krylov_cache --configs q1:l80,q1:b40 --sketch-seeds 20 --json OUT.json

A configuration `qN:lM` has N power iterations and M vectors per round (M = rank + oversample is the classic
choice); `qN:bM` is the same spelling (M vectors per round); `qN:sM` fixes the Krylov space at M dimensions,
split into N + 1 rounds of ceil(M / (N + 1)) vectors. Passes per LRE prompt: 2 (N + 1) M (+1 for the bias).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402


def parse_config(c: str) -> tuple:
    "`(power_iters, block)` of `qN:lM`, `qN:bM` or `qN:sM`."
    try:
        q, m = c.split(":")
        q = int(q[1:]); kind, m = m[0], int(m[1:])
        if not c.startswith("q") or kind not in "lbs": raise ValueError
    except ValueError: raise SystemExit(f"bad config {c!r}: use qN:lM, qN:bM or qN:sM")
    return q, (-(-m // (q + 1)) if kind == "s" else m)


def collect(args, cache: Path):
    "Exact LREs and the states the concepts and their test need, per relation and seed (skips what is cached)."
    from safetensors.torch import save_file
    from lrc_nb import concepts, data, lre
    from lrc_nb.evaluation import _resolved, prepare_relation, _obj
    from lrc_nb.extraction import extract_object_states
    from lrc_nb.models import load_model

    cache.mkdir(parents=True, exist_ok=True)
    model, tok = load_model(args.model, device="cpu")
    ls, lo, rank, _ = _resolved(model, None, None, args.rank)
    rels = list(data.load_relations(args.relations) if args.relations else data.package_relations())
    if args.names: keep = set(args.names.split(",")); rels = [r for r in rels if r.name in keep or r.name.replace(" ", "_") in keep]
    validity = data.ValidityFilter(model, tok, batch_size=32, progress=False)
    for seed in [int(s) for s in args.seeds.split(",")]:
        for r in rels:
            stem = cache / f"{r.name.replace(' ', '_')}__seed{seed}"
            if stem.with_suffix(".json").exists(): continue
            t0 = time.time()
            rd = prepare_relation(model, tok, r, seed, ls, "zero_shot", "test", validity)
            if not rd.usable:
                print(f"{r.name} seed {seed}: not usable ({rd.counts})", flush=True); continue
            sample = data.balanced_sample(rd.train_prompts, args.n_lre_prompts, seed=seed)
            e = lre.train_lre(model, tok, sample, ls, lo, relation=r.name, progress=False)
            states = extract_object_states(model, tok, [p.text for p in rd.train_prompts], [p.answer for p in rd.train_prompts],
                                           [lo], batch_size=16, progress=False)[lo]
            save_file({"W": e.weight.contiguous(), "b": e.bias.contiguous(), "object_states": states.float().contiguous(),
                       "test_states": rd.test_states.float().contiguous()}, str(stem.with_suffix(".safetensors")))
            stem.with_suffix(".json").write_text(json.dumps(dict(
                relation=r.name, seed=seed, subject_layer=ls, object_layer=lo, rank=rank, model=args.model,
                objects=[_obj(p) for p in rd.train_prompts], answers=[_obj(p) for p in rd.test_prompts])))
            print(f"{r.name:28s} seed {seed}: exact LRE and states in {time.time() - t0:.0f} s", flush=True)


def evaluate(args, cache: Path) -> dict:
    from safetensors.torch import load_file
    from lrc_nb.concepts import concepts_from_lre
    from lrc_nb.evaluation import accuracy_from_states
    from lrc_nb.lre import InvertedLre, krylov_svd, Lre

    configs = args.configs.split(",")
    rows = []
    for meta_f in sorted(cache.glob("*.json")):
        meta = json.loads(meta_f.read_text())
        t = load_file(str(meta_f.with_suffix(".safetensors")))
        W, b = t["W"].double(), t["b"].double()
        rank = args.rank or meta["rank"]
        ls, lo = meta["subject_layer"], meta["object_layer"]
        exact = Lre(W, b, ls, lo, relation=meta["relation"]).invert(rank)

        def scored(inv):
            cs = concepts_from_lre(inv, t["object_states"].double(), meta["objects"])
            acc, ok, n = accuracy_from_states(cs, t["test_states"].double(), meta["answers"])
            return cs, acc, ok, n
        ref_cs, ref_acc, ref_ok, n = scored(exact)
        ref = {c.object: c.vector.double() for c in ref_cs}
        base = dict(relation=meta["relation"], seed=meta["seed"], rank=rank, n_test=n)
        rows.append(dict(base, config="exact", sketch_seed=None, accuracy=ref_acc, n_correct=ref_ok))
        for c in configs:
            q, block = parse_config(c)
            if block * (q + 1) < rank: raise SystemExit(f"{c}: a Krylov space of {block * (q + 1)} < rank {rank}")
            for s in range(args.sketch_seeds):
                U, S, V = krylov_svd(lambda X: W @ X, lambda X: W.T @ X, W.shape[0], block, q, seed=s, dtype=torch.float64)
                inv = InvertedLre(U[:, :rank], S[:rank], V[:, :rank], b, rank, ls, lo, meta["relation"])
                cs, acc, ok, _ = scored(inv)
                cos = sum(torch.nn.functional.cosine_similarity(x.vector.double(), ref[x.object], dim=0).item()
                          for x in cs) / len(cs)
                rows.append(dict(base, config=c, sketch_seed=s, power_iters=q, block=block, passes=2 * (q + 1) * block + 1,
                                 accuracy=acc, n_correct=ok, acc_diff=acc - ref_acc,
                                 pinv_rel_error=((inv.pinv - exact.pinv).norm() / exact.pinv.norm()).item(),
                                 concept_cosine=cos,
                                 gap=(S[rank - 1] / S[rank]).item() if len(S) > rank else None))
    summary = {}
    for c in configs:
        rs = [r for r in rows if r["config"] == c]
        d = [r["acc_diff"] for r in rs]
        mu = sum(d) / len(d); sd = (sum((x - mu) ** 2 for x in d) / max(1, len(d) - 1)) ** 0.5
        by_rel = {}
        for r in rs: by_rel.setdefault((r["relation"], r["seed"]), []).append(r["acc_diff"])
        rel_means = [sum(v) / len(v) for v in by_rel.values()]
        rmu = sum(rel_means) / len(rel_means)
        rsd = (sum((x - rmu) ** 2 for x in rel_means) / max(1, len(rel_means) - 1)) ** 0.5
        summary[c] = dict(power_iters=rs[0]["power_iters"], block=rs[0]["block"], passes=rs[0]["passes"], n=len(rs),
                          relation_seeds=len(by_rel),
                          pinv_rel_error=sum(r["pinv_rel_error"] for r in rs) / len(rs),
                          concept_cosine=sum(r["concept_cosine"] for r in rs) / len(rs),
                          min_concept_cosine=min(r["concept_cosine"] for r in rs),
                          acc_diff_mean=mu, acc_diff_sem=rsd / len(rel_means) ** 0.5,
                          worse=sum(x < -1e-12 for x in d), better=sum(x > 1e-12 for x in d),
                          equal=sum(abs(x) <= 1e-12 for x in d))
    per = {}  # the JSON keeps one row per relation, seed and configuration: means over the sketch seeds
    for r in rows: per.setdefault((r["relation"], r["seed"], r["config"]), []).append(r)
    kept = [dict(rs[0], **{k: sum(x[k] for x in rs) / len(rs) for k in ("accuracy", "acc_diff", "pinv_rel_error", "concept_cosine")
                         if rs[0].get(k) is not None}, sketch_seeds=len(rs)) for rs in per.values()]
    for r in kept: r.pop("sketch_seed", None); r.pop("n_correct", None)
    return dict(summary=summary, rows=kept)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--relations", default=None, help="a folder of relation JSON files (default: the package's)")
    ap.add_argument("--names", default=None)
    ap.add_argument("--seeds", default="0,1", help="relation seeds (split, LRE prompts)")
    ap.add_argument("--n-lre-prompts", type=int, default=20)
    ap.add_argument("--rank", type=int, default=None, help="default: the model's default rank (SmolLM2: 64)")
    ap.add_argument("--cache", required=True, help="folder for the exact LREs and states (step 1)")
    ap.add_argument("--configs", default="q1:l80,q0:l80,q0:l160,q1:s80,q1:s96,q1:s128,q2:s80,q2:s96,q2:s120,q3:s80,q2:l80")
    ap.add_argument("--sketch-seeds", type=int, default=10)
    ap.add_argument("--json", required=True)
    args = ap.parse_args(argv)
    cache = Path(args.cache)
    collect(args, cache)
    t0 = time.time()
    out = evaluate(args, cache)
    out["settings"] = {k: v for k, v in vars(args).items() if k != "json"}
    out["seconds"] = time.time() - t0
    Path(args.json).write_text(json.dumps(out, indent=1))
    print(f"{'config':10s} {'block':>5s} {'passes':>6s} {'W† err':>8s} {'cos':>7s} {'min cos':>7s} {'Δacc':>16s}  worse/better/equal")
    for c, s in out["summary"].items():
        print(f"{c:10s} {s['block']:5d} {s['passes']:6d} {s['pinv_rel_error']:8.3f} {s['concept_cosine']:7.4f} "
              f"{s['min_concept_cosine']:7.4f} {s['acc_diff_mean']:+8.4f} ± {s['acc_diff_sem']:.4f}  "
              f"{s['worse']}/{s['better']}/{s['equal']}")


if __name__ == "__main__":
    main()
