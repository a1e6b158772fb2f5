"""`load_model` from every offline source: the embedded name, a `.gguf` file, a local folder, and `device_map`
passed through to accelerate (a real split of SmolLM2 between CPU and disk, the case of a model larger than one
device). Each loaded model must compute what the shared `smollm2` fixture computes."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lrc_nb.extraction import extract_subject_states
from lrc_nb.models import load_model, model_fingerprint, smollm2_cache_dir, smollm2_gguf_path

PROMPT = "The capital of France is"
PROMPTS = ["The Eiffel Tower is in the city of", "France is a country in"]
SUBJECTS = ["The Eiffel Tower", "France"]


def logits(model, tok, text=PROMPT):
    ids = tok(text, return_tensors="pt").input_ids
    with torch.no_grad(): return model(ids.to(model.device)).logits.cpu()


def same_model(a, b, atol=1e-4):
    (ma, ta), (mb, tb) = a, b
    assert ta(PROMPT)["input_ids"] == tb(PROMPT)["input_ids"]
    torch.testing.assert_close(logits(ma, ta), logits(mb, tb), rtol=0, atol=atol)


def test_local_folder(smollm2):
    folder = smollm2_cache_dir()
    assert (folder / "model.safetensors").exists()  # the fixture wrote or found it
    m, t = load_model(str(folder))  # a Path works the same (load_model takes str(name_or_path))
    assert not m.training
    same_model((m, t), smollm2, atol=0)
    assert model_fingerprint(m) == model_fingerprint(smollm2[0])


def test_gguf_file(smollm2):
    "The GGUF file itself (de-quantised on load, ~15 s) equals the cached fp32 copy."
    path = smollm2_gguf_path()
    m, t = load_model(str(path))
    same_model((m, t), smollm2)
    assert model_fingerprint(m) == model_fingerprint(smollm2[0])


def test_device_map_auto_splits_a_model(smollm2, tmp_path):
    "device_map='auto' with a memory budget below the model's size: accelerate spreads blocks over CPU and disk."
    m, t = load_model(smollm2_cache_dir(), device_map="auto", max_memory={"cpu": "300MB"},
                      offload_folder=str(tmp_path))
    assert {"cpu", "disk"} <= set(m.hf_device_map.values())
    same_model((m, t), smollm2)
    for side in ("left", "right"):
        got = extract_subject_states(m, t, PROMPTS, SUBJECTS, [3, 20, -1], padding_side=side)
        ref = extract_subject_states(*smollm2, PROMPTS, SUBJECTS, [3, 20, -1], padding_side=side)
        for l in ref: torch.testing.assert_close(got[l], ref[l], rtol=0, atol=1e-5)
    assert sum(len(x._forward_hooks) for x in m.modules()) == 0


def test_embedded_name_with_options(smollm2):
    m, _ = load_model("SmolLM2", dtype=torch.bfloat16)
    assert m.dtype == torch.bfloat16 and smollm2[0].dtype == torch.float32


def test_errors():
    with pytest.raises(ValueError, match="not both"): load_model("smollm2", device="cpu", device_map="auto")
    with pytest.raises(FileNotFoundError, match="not found"): load_model("/nonexistent/model.gguf")
    with pytest.raises(FileNotFoundError, match="no such folder"): load_model("./no/such/model")
    with pytest.raises(ValueError, match="not a .gguf"): load_model(Path(__file__))
