"""The paper's full protocol on SmolLM2: settings chosen by sweeps on the package's relations, then every method
on the shared Hernandez relations, several seeds. Writes results as it goes, so a run cut short keeps what it did.

    .venv/bin/python bench/smollm2_protocol.py --out nbs/results                       # CPU: hours
    python3 bench/smollm2_protocol.py --model PATH.gguf --device cuda --out $OUT       # a GPU: minutes

1. Sweeps (`lrc_nb.evaluation.sweep`, `holdout="validation"`: concepts trained on half of each *package* relation's
   training subjects and scored on the other half; no test subject and no shared relation is looked at):
   subject layer (object layer 21), then object layer (best subject layer), then rank (best layers).
   `best_value` picks each by LRC accuracy.
2. `evaluate` on the shared relations with the chosen settings, zero-shot test prompts (the paper), seeds 0..N-1,
   every method of `lrc_nb.evaluation.METHODS` (lrc, lrc_first_token, lrc_final_first_token, svm, logistic, average;
   the stored run predates lrc_first_token, added by a separate run: nbs/results.ipynb); one JSON per seed, then the merged
   `smollm2_shared.json` in the `lrc_nb eval --json` schema.
3. The same with few-shot test prompts (`--few-shot`), since SmolLM2 answers few zero-shot prompts.

Files: sweep_{param}.csv, chosen.json, smollm2_shared[_fewshot][_seedN].json, log.txt.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path

import pandas as pd


def log(out: Path, *msg):
    line = " ".join(str(m) for m in msg)
    print(line, flush=True)
    with open(out / "log.txt", "a") as f: f.write(line + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="smollm2", help="'smollm2' or a path to its .gguf")
    ap.add_argument("--device", default=None)
    ap.add_argument("--out", required=True)
    ap.add_argument("--relations", default=None, help="shared relations folder (default: lrc_nb.data.shared_relations_dir())")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--subject-layers", default="6,9,12,15,18")
    ap.add_argument("--object-layers", default="15,18,21,24,27")
    ap.add_argument("--ranks", default="16,32,64,128,192,384")
    ap.add_argument("--no-sweep", action="store_true", help="use the model's defaults (lrc_nb.evaluation.model_defaults)")
    ap.add_argument("--few-shot", action="store_true", help="also evaluate with few-shot test prompts")
    ap.add_argument("--max-relations", type=int, default=None, help="smoke runs only")
    ap.add_argument("--methods", default=None, help="comma-separated subset of the methods (default: all)")
    ap.add_argument("--budget", type=float, default=None, help="stop starting new work after this many seconds")
    ap.add_argument("--eval-reserve", type=float, default=0.0, help="with --budget: seconds kept for the evaluation")
    ap.add_argument("--chunk", type=int, default=8, help="relations per evaluate call (budget checks in between)")
    args = ap.parse_args(argv)

    import torch
    from lrc_nb import data
    from lrc_nb.evaluation import EvalResult, best_value, evaluate, model_defaults, sweep
    from lrc_nb.models import load_model, model_fingerprint

    out = Path(args.out); out.mkdir(parents=True, exist_ok=True)
    t_start = time.time()
    left = lambda: None if args.budget is None else args.budget - (time.time() - t_start)
    model, tok = load_model(args.model, device=args.device)
    dev = str(next(model.parameters()).device)
    name = "cuda" if dev.startswith("cuda") else "cpu"
    log(out, f"model {args.model} on {dev} ({torch.cuda.get_device_name() if name == 'cuda' else 'cpu'}), "
             f"fingerprint {model_fingerprint(model)}, torch {torch.__version__}")
    shared = Path(args.relations) if args.relations else data.shared_relations_dir()
    if shared is None: raise SystemExit("no shared relations: pass --relations DIR")
    shared_rels = list(data.load_relations(shared))
    train_rels = list(data.package_relations())
    if args.max_relations: shared_rels, train_rels = shared_rels[:args.max_relations], train_rels[:args.max_relations]
    dflt = model_defaults(model)
    chosen = dict(subject_layer=dflt.subject_layer, object_layer=dflt.object_layer, rank=dflt.rank, beta=dflt.beta,
                  source="model_defaults")

    if not args.no_sweep:
        ints = lambda s: [int(x) for x in s.split(",") if x]
        plan = [("subject_layer", ints(args.subject_layers), ("lrc", "svm")),
                ("object_layer", ints(args.object_layers), ("lrc",)),
                ("rank", ints(args.ranks), ("lrc",))]
        for param, values, methods in plan:
            t0, tables = time.time(), []
            fixed = {k: chosen[k] for k in ("subject_layer", "object_layer", "rank") if k != param}
            for v in values:  # one value at a time, so a time budget can stop between values
                if left() is not None and left() < args.eval_reserve:
                    log(out, f"budget: sweep {param} stops before {v}"); break
                tables.append(sweep(model, tok, train_rels, param, [v], methods=methods, seeds=1, progress=False, **fixed))
            if not tables: continue
            sw = pd.concat(tables, ignore_index=True)
            sw.to_csv(out / f"sweep_{param}.csv", index=False)
            chosen[param] = int(best_value(sw, param))
            means = sw[sw.method == "lrc"].groupby(param)[["accuracy", "causality"]].mean().round(3)
            log(out, f"sweep {param} ({time.time() - t0:.0f} s; fixed {fixed}): lrc means\n{means}\n-> {chosen[param]}")
        chosen["source"] = "sweeps on the package relations (validation split of training subjects)"
    (out / "chosen.json").write_text(json.dumps(chosen, indent=1))
    log(out, f"settings: {chosen}")

    runs = [("zero_shot", "smollm2_shared")] + ([("few_shot", "smollm2_shared_fewshot")] if args.few_shot else [])
    for test_prompts, stem in runs:
        parts = []
        for seed in range(args.seeds):
            t0, seed_parts = time.time(), []
            for i in range(0, len(shared_rels), args.chunk):  # chunks of relations, so a budget can stop in between
                if left() is not None and left() < 0:
                    log(out, f"budget spent: {stem} stops at seed {seed}, relation {i}"); break
                try:
                    res = evaluate(model, tok, shared_rels[i:i + args.chunk], seeds=[seed], test_prompts=test_prompts,
                                   model_name="smollm2", subject_layer=chosen["subject_layer"],
                                   object_layer=chosen["object_layer"], rank=chosen["rank"], beta=chosen["beta"],
                                   keep_banks=False, progress=False,
                                   methods=args.methods.split(",") if args.methods else None)
                except Exception:
                    log(out, traceback.format_exc()); return 1
                seed_parts.append(res)
            if not seed_parts: break
            res = EvalResult(pd.concat([p.table for p in seed_parts], ignore_index=True), "smollm2",
                             dict(seed_parts[0].settings, relations=[r.name for r in shared_rels],
                                  wall_seconds=sum(p.settings["wall_seconds"] for p in seed_parts)))
            res.to_json(out / f"{stem}_seed{seed}.json")
            parts.append(res)
            log(out, f"{stem} seed {seed}: {time.time() - t0:.0f} s, {res.table.relation.nunique()} relations\n{res.summary.round(3)}")
            if res.table.relation.nunique() < len(shared_rels): break
        if parts:
            settings = dict(parts[0].settings, seeds=[s for p in parts for s in p.settings["seeds"]],
                            wall_seconds=sum(p.settings["wall_seconds"] for p in parts), chosen=chosen, device=dev)
            merged = EvalResult(pd.concat([p.table for p in parts], ignore_index=True), "smollm2", settings)
            merged.to_json(out / f"{stem}.json")
            log(out, merged.format(per_relation=True))
    log(out, f"total {time.time() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
