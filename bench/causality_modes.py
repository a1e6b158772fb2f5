"""Causality under the edit modes, on the same concepts and the same edits.

`lrc_nb.causal` edits the subject's last token at the blocks a mode selects: `all` (ours, the default: from the
concept's block to the last), `every` (every block, also those before the concept's block: what the authors'
benchmark does, `edit_single_layer=False` in `linear_relational.CausalEditor`) and `single` (the concept's block
only). This script trains each method's concepts once per (relation, seed) and scores causality under each mode
with the same (prompt, target) pairs, so the modes (and edit sizes beta) differ in nothing else.

    flock /tmp/lrc_cpu.lock .venv/bin/python bench/causality_modes.py --json bench/results/protocol/causality_modes_smollm2.json
"""
import json
import time

from lrc_nb import causal
from lrc_nb.evaluation import _obj, accuracy_from_states, method_concepts, prepare_relation
from paired_runs import parser, setup


def main():
    ap = parser(__doc__)
    ap.add_argument("--methods", default="lrc,svm,average")
    ap.add_argument("--modes", default="all,every,single")
    ap.add_argument("--betas", default=None, help="comma-separated edit sizes (default: the model's, lrc_nb.evaluation.model_defaults)")
    a = ap.parse_args()
    S = setup(a)
    model, tok, d, rels, editor, validity = S.model, S.tok, S.d, S.rels, S.editor, S.validity
    ls, lo, rank = d.subject_layer, d.object_layer, d.rank
    betas = [d.beta] if a.betas is None else [float(b) for b in a.betas.split(",")]
    methods = a.methods.split(",")
    modes = [f"{mo}@{b:g}" for mo in a.modes.split(",") for b in betas]  # a column per (mode, beta)
    rows, t0 = [], time.time()
    for seed in range(a.seeds):
        for rel in rels:
            rd = prepare_relation(model, tok, rel, seed, ls, validity=validity)
            if not rd.usable: continue
            for m in methods:
                cs = method_concepts(m, model, tok, rd, lo, rank)
                acc = accuracy_from_states(cs, rd.test_states, [_obj(p) for p in rd.test_prompts])[0]
                row = dict(relation=rel.name, seed=seed, method=m, accuracy=acc)
                for mode in modes:
                    mo, b = mode.split("@")
                    cr = causal.causality(editor, cs, rd.test_prompts, beta=float(b), mode=mo, seed=seed, progress=False)
                    row[mode], row[f"n_edits_{mode}"] = cr.rate, cr.n_edits
                rows.append(row)
                print(f"seed {seed} {rel.name:32s} {m:8s} " + " ".join(f"{mo} {row[mo]:.2f}" for mo in modes), flush=True)
    # the paper's aggregation: mean over relations within a seed (relations with edits), then over seeds
    summary = {}
    for m in methods:
        for mode in modes:
            per_seed = []
            for seed in range(a.seeds):
                v = [r[mode] for r in rows if r["method"] == m and r["seed"] == seed and r[f"n_edits_{mode}"]]
                if v: per_seed.append(sum(v) / len(v))
            summary[f"{m}/{mode}"] = sum(per_seed) / len(per_seed) if per_seed else None
    out = dict(model="smollm2", subject_layer=ls, object_layer=lo, rank=rank, betas=betas, seeds=a.seeds,
               relations=[r.name for r in rels], methods=methods, modes=modes, seconds=time.time() - t0,
               summary=summary, rows=rows)
    json.dump(out, open(a.json, "w"), indent=1)
    print("\ncausality (mean over relations per seed, then over seeds)")
    print(f"{'method':10s}" + "".join(f"{mo:>13s}" for mo in modes))
    for m in methods: print(f"{m:10s}" + "".join(f"{summary[f'{m}/{mo}'] or float('nan'):13.3f}" for mo in modes))
    print(f"{out['seconds']:.0f} s")


if __name__ == "__main__":
    main()
