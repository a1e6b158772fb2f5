"""SVM and logistic baselines fitted on unit-normalised subject states (ours) or on the raw states (the authors').

`lrc_nb.baselines.svm_concepts` / `logistic_concepts` normalise each training state to unit length before the fit
by default (`normalize_states=True`: the concepts then do not depend on how large one prompt's state is); the
authors' benchmark fits the raw float32 states (`LinearSVC(max_iter=1000)`). This script trains both on the same
states of the same split and scores classification accuracy and causality on the same test prompts and edits.

    flock /tmp/lrc_cpu.lock .venv/bin/python bench/baseline_states.py --json bench/results/protocol/baseline_states_smollm2.json
"""
import json
import time
import warnings

from lrc_nb import baselines, causal
from lrc_nb.evaluation import _obj, accuracy_from_states, prepare_relation
from paired_runs import parser, setup


def main():
    a = parser(__doc__).parse_args()
    S = setup(a)
    model, tok, d, rels, editor, validity = S.model, S.tok, S.d, S.rels, S.editor, S.validity
    fits = {"svm": baselines.svm_concepts, "logistic": baselines.logistic_concepts}
    rows, t0 = [], time.time()
    for seed in range(a.seeds):
        for rel in rels:
            rd = prepare_relation(model, tok, rel, seed, d.subject_layer, validity=validity)
            if not rd.usable: continue
            objs = [_obj(p) for p in rd.train_prompts]
            for m, fit in fits.items():
                for norm in (True, False):
                    with warnings.catch_warnings(record=True) as w:
                        warnings.simplefilter("always")
                        cs = fit(rd.train_states, objs, rel.name, d.subject_layer, normalize_states=norm, seed=seed)
                    acc = accuracy_from_states(cs, rd.test_states, [_obj(p) for p in rd.test_prompts])[0]
                    cr = causal.causality(editor, cs, rd.test_prompts, beta=d.beta, mode=d.mode, seed=seed, progress=False)
                    rows.append(dict(relation=rel.name, seed=seed, method=m, normalize_states=norm, accuracy=acc,
                                     causality=cr.rate if cr.n_edits else None, n_edits=cr.n_edits,
                                     warnings=sorted({str(x.message)[:80] for x in w})))
                    print(f"seed {seed} {rel.name:32s} {m:8s} {'unit' if norm else 'raw ':4s} accuracy {acc:.2f} "
                          f"causality {cr.rate:.2f}", flush=True)
    summary = {}
    for m in fits:
        for norm in (True, False):
            for metric in ("accuracy", "causality"):
                per_seed = []
                for seed in range(a.seeds):
                    v = [r[metric] for r in rows if (r["method"], r["normalize_states"], r["seed"]) == (m, norm, seed)
                         and r[metric] is not None]
                    if v: per_seed.append(sum(v) / len(v))
                summary[f"{m}/{'unit' if norm else 'raw'}/{metric}"] = sum(per_seed) / len(per_seed) if per_seed else None
    out = dict(model="smollm2", subject_layer=d.subject_layer, beta=d.beta, mode=d.mode, seeds=a.seeds,
               relations=[r.name for r in rels], seconds=time.time() - t0, summary=summary, rows=rows)
    json.dump(out, open(a.json, "w"), indent=1)
    print("\nmean over relations per seed, then over seeds")
    for k, v in summary.items(): print(f"{k:28s} {v:.3f}")
    print(f"{out['seconds']:.0f} s")


if __name__ == "__main__":
    main()
