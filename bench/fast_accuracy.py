"""Does the fast LRE estimator change the concepts' accuracy? Exact against fast, paired, under the paper's protocol.

For each relation and seed the relation is prepared once (split, prompts, validity filter, subject states, as
`lrc_nb.evaluation.evaluate` does), and every configuration trains its LRCs on the *same* 20 LRE prompts
(`balanced_sample` with the seed) at the same layers and rank. Each is scored on the same zero-shot test prompts:
classification accuracy (argmax of v . s over the relation's concepts) and causality (the paper's edits, beta
from the model's defaults). Besides the metrics the script records each configuration's LRE time, the relative
error of its rank-k pseudo-inverse against the exact rank-k pseudo-inverse, and the mean cosine between its
concepts and the exact ones (matched by object).

    .venv/bin/python bench/fast_accuracy.py --json OUT.json                       # the package's 10 relations, seeds 0 1
    .venv/bin/python bench/fast_accuracy.py --relations ../shared/data/relations --seeds 0 --json OUT.json

Configurations (`--configs`): `exact` (the default LRE), `fast:qN` (randomized block Krylov, N power iterations,
oversample 16). The JSON is rewritten after every relation, so an interrupted run keeps what it measured.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402


def parse_config(c: str) -> dict:
    if c == "exact": return {"method": "exact"}
    if c.startswith("fast:q"): return {"method": "fast", "power_iters": int(c[len("fast:q"):]), "oversample": 16}
    raise SystemExit(f"unknown config {c!r}: use exact or fast:qN")


def rel(a, b): return ((a - b).norm() / b.norm()).item()


def summarize(rows, configs):
    "Per configuration: mean metrics over relation-seeds, and paired differences against exact."
    import math
    out = {}
    base = {(r["relation"], r["seed"]): r for r in rows if r["config"] == "exact"}
    for c in configs:
        rs = [r for r in rows if r["config"] == c and not math.isnan(r["accuracy"])]
        if not rs: continue
        s = {"n": len(rs)}
        for m in ("accuracy", "causality", "lre_seconds", "pinv_rel_error", "concept_cosine"):
            v = [r[m] for r in rs if r.get(m) is not None and not math.isnan(r[m])]
            s[m] = sum(v) / len(v) if v else None
        pooled_ok = sum(r["n_correct"] for r in rs); pooled_n = sum(r["n_test"] for r in rs)
        s["pooled_accuracy"] = pooled_ok / pooled_n if pooled_n else None
        e_ok = sum(r["n_success"] for r in rs); e_n = sum(r["n_edits"] for r in rs)
        s["pooled_causality"] = e_ok / e_n if e_n else None
        if c != "exact":
            for m in ("accuracy", "causality"):
                d = [r[m] - base[(r["relation"], r["seed"])][m] for r in rs
                     if (r["relation"], r["seed"]) in base and not math.isnan(r[m]) and not math.isnan(base[(r["relation"], r["seed"])][m])]
                if d:
                    mu = sum(d) / len(d)
                    sd = (sum((x - mu) ** 2 for x in d) / max(1, len(d) - 1)) ** 0.5
                    s[f"{m}_diff_vs_exact"] = {"mean": mu, "sd": sd, "sem": sd / len(d) ** 0.5, "n": len(d),
                                               "better": sum(x > 1e-12 for x in d), "worse": sum(x < -1e-12 for x in d),
                                               "equal": sum(abs(x) <= 1e-12 for x in d)}
        out[c] = s
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--relations", default=None, help="a folder of relation JSON files (default: the package's)")
    ap.add_argument("--names", default=None, help="comma-separated relation names to keep (default: all)")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--configs", default="exact,fast:q1,fast:q2")
    ap.add_argument("--n-lre-prompts", type=int, default=20)
    ap.add_argument("--rank", type=int, default=None, help="default: the model's default rank")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--budget", type=float, default=None, help="seconds; no new relation starts after this")
    ap.add_argument("--json", required=True)
    args = ap.parse_args(argv)

    from lrc_nb import causal, concepts, data
    from lrc_nb.evaluation import _resolved, accuracy_from_states, prepare_relation, _obj
    from lrc_nb.models import load_model

    configs = args.configs.split(",")
    for c in configs: parse_config(c)
    if configs[0] != "exact": raise SystemExit("the first config must be exact (the reference)")
    model, tok = load_model(args.model, device=args.device)
    ls, lo, rank, dflt = _resolved(model, None, None, args.rank)
    rels = list(data.load_relations(args.relations) if args.relations else data.package_relations())
    if args.names: keep = set(args.names.split(",")); rels = [r for r in rels if r.name in keep or r.name.replace(" ", "_") in keep]
    seeds = [int(s) for s in args.seeds.split(",")]
    editor = causal.CausalEditor(model, tok)
    validity = data.ValidityFilter(model, tok, batch_size=32, progress=False)
    settings = dict(model=args.model, subject_layer=ls, object_layer=lo, rank=rank, beta=dflt.beta,
                    n_lre_prompts=args.n_lre_prompts, seeds=seeds, configs=configs, test_prompts="zero_shot",
                    relations=[r.name for r in rels], torch_threads=torch.get_num_threads())
    rows, t_start, stopped = [], time.time(), None

    def save():
        doc = dict(settings=settings, wall_seconds=time.time() - t_start, stopped_early=stopped,
                   summary=summarize(rows, configs), rows=rows)
        Path(args.json).write_text(json.dumps(doc, indent=1))

    for seed in seeds:
        for relation in rels:
            if args.budget and time.time() - t_start > args.budget:
                stopped = f"budget of {args.budget:.0f} s reached before {relation.name} seed {seed}"; break
            rd = prepare_relation(model, tok, relation, seed, ls, "zero_shot", "test", validity)
            if not rd.usable:
                print(f"{relation.name} seed {seed}: not usable ({rd.counts})", flush=True); continue
            answers = [_obj(p) for p in rd.test_prompts]
            ref = None
            for c in configs:
                kw = parse_config(c)
                t0 = time.time()
                rc = concepts.train_relation_concepts(model, tok, rd.train_prompts, subject_layer=ls, object_layer=lo,
                                                      rank=rank, n_lre_prompts=args.n_lre_prompts, seed=seed,
                                                      valid_only=False, progress=False, **kw)
                t_lre = time.time() - t0
                cs = list(rc)
                acc, n_ok, n = accuracy_from_states(cs, rd.test_states, answers)
                cr = causal.causality(editor, cs, rd.test_prompts, beta=dflt.beta, mode="all", max_edits_per_source=5,
                                      seed=seed, batch_size=16, progress=False)
                inv = rc.inverted["*"]
                row = dict(relation=relation.name, seed=seed, config=c, accuracy=acc, causality=cr.rate,
                           n_correct=n_ok, n_test=n, n_success=cr.n_success, n_edits=cr.n_edits,
                           n_concepts=len(cs), n_train=len(rd.train_prompts), lre_seconds=t_lre,
                           pinv_rel_error=None, concept_cosine=None)
                if c == "exact":
                    ref = (inv, {x.object: x.vector for x in cs})
                else:
                    row["pinv_rel_error"] = rel(inv.pinv, ref[0].pinv)
                    cos = [torch.nn.functional.cosine_similarity(x.vector.double(), ref[1][x.object].double(), dim=0).item()
                           for x in cs if x.object in ref[1]]
                    row["concept_cosine"] = sum(cos) / len(cos)
                rows.append(row)
                print(f"{relation.name:28s} seed {seed} {c:8s} acc {acc:.3f} ({n_ok}/{n}) caus {cr.rate:.3f} "
                      f"({cr.n_success}/{cr.n_edits}) LRE {t_lre:6.1f}s"
                      + (f" W† err {row['pinv_rel_error']:.2e} cos {row['concept_cosine']:.4f}" if c != "exact" else ""),
                      flush=True)
            save()
        if stopped: break
    save()
    print(json.dumps(summarize(rows, configs), indent=1))


if __name__ == "__main__":
    main()
