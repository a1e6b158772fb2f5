"""What the paired SmolLM2 benches share (`causality_modes.py`, `baseline_states.py`): their common options, and
the model, defaults, relations, causal editor and validity filter they run on."""
import argparse
from types import SimpleNamespace

from lrc_nb import causal, data
from lrc_nb.evaluation import model_defaults
from lrc_nb.models import load_model


def parser(doc: str) -> argparse.ArgumentParser:
    "`--relations`, `--max-relations`, `--seeds`, `--json`; the caller adds its own."
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--relations", default=None, help="shared relations folder (default: the package's own relations)")
    ap.add_argument("--max-relations", type=int, default=None)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--json", required=True)
    return ap


def setup(a) -> SimpleNamespace:
    "SmolLM2, its defaults (`d`), the relations, a `CausalEditor` and a `ValidityFilter`."
    model, tok = load_model("smollm2")
    rels = data.load_relations(a.relations) if a.relations else data.package_relations()
    return SimpleNamespace(model=model, tok=tok, d=model_defaults(model),
                           rels=rels[:a.max_relations] if a.max_relations else rels,
                           editor=causal.CausalEditor(model, tok),
                           validity=data.ValidityFilter(model, tok, batch_size=32, progress=False))
