"""The `lrc_nb` command line end to end: `--help`, and `lrc_nb eval` on a tiny random model and a tiny
relations folder written here, checking the JSON schema, the types and the summary math.

The model is a 4-block random Llama with a word-level tokenizer (both saved to a temporary folder, loaded by
`lrc_nb eval --model FOLDER` through `load_model`): no download, a few seconds. A random model answers no
prompt correctly, so the run that exercises every method uses `--keep-invalid`; a second run without it
checks that relations with nothing to score come out as `null` with zero counts.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import make_tiny_tokenizer

ROOT = Path(__file__).resolve().parents[1]
LRC_NB = Path(sys.executable).parent / "lrc_nb"
RESULT_KEYS = ("relation", "method", "seed", "accuracy", "causality", "n_test", "n_edits", "seconds")
SUMMARY_KEYS = ("accuracy_mean", "accuracy_std", "causality_mean", "causality_std")

# two objects per continent for a many-to-one relation
CONTINENT = [("france", "europe"), ("italy", "europe"), ("spain", "europe"), ("greece", "europe"),
             ("japan", "asia"), ("china", "asia"), ("india", "asia"), ("nepal", "asia"),
             ("egypt", "africa"), ("kenya", "africa"), ("ghana", "africa"), ("mali", "africa")]

CAPITAL_CONTINENT = [("paris", "europe"), ("rome", "europe"), ("madrid", "europe"), ("tokyo", "asia"),
                     ("delhi", "asia"), ("cairo", "africa"), ("nairobi", "africa"), ("accra", "africa")]


def _words():
    ws = "the capital of is city country in located continent on which a".split()
    for s, o in CONTINENT + CAPITAL_CONTINENT: ws += [s, o]
    return tuple(dict.fromkeys(ws))


def _relation(name, fs, zs, samples):
    return {"name": name, "prompt_templates": fs, "prompt_templates_zs": zs,
            "properties": {"relation_type": "factual", "domain_name": "country", "range_name": "x", "symmetric": False},
            "samples": [{"subject": s, "object": o} for s, o in samples]}


@pytest.fixture(scope="module")
def tiny_setup(tmp_path_factory):
    "A saved tiny random Llama + tokenizer, and a folder of two relations."
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    root = tmp_path_factory.mktemp("lrc_cli")
    tok = make_tiny_tokenizer(words=_words())
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=4, num_attention_heads=4,
                      num_key_value_heads=2, max_position_embeddings=256, pad_token_id=0, bos_token_id=2, eos_token_id=3)
    LlamaForCausalLM(cfg).save_pretrained(root / "model")
    tok.save_pretrained(root / "model")
    rels = root / "relations" / "factual"
    rels.mkdir(parents=True)
    # many-to-one (several subjects per object): the kind of relation classification can score
    (rels / "country_continent.json").write_text(json.dumps(_relation(
        "country continent", ["{} is in"], ["{} is a country located on the continent"], CONTINENT)))
    (rels / "capital_continent.json").write_text(json.dumps(_relation(
        "capital continent", ["the capital city {} is in"], ["the city {} is located in the continent"],
        CAPITAL_CONTINENT)))
    return root


def _run(args, cache, timeout=600):
    env = dict(os.environ, LRC_NB_CACHE=str(cache), PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1")
    return subprocess.run([str(LRC_NB), *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout)


def test_help_lists_subcommands():
    r = subprocess.run([str(LRC_NB), "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    for cmd in ("demo", "eval", "train", "info", "show"):
        assert cmd in r.stdout
    r = subprocess.run([str(LRC_NB), "eval", "--help"], capture_output=True, text=True, timeout=120)
    for opt in ("--model", "--relations", "--methods", "--seeds", "--json", "--subject-layer", "--object-layer",
                "--rank", "--beta", "--test-prompts"):
        assert opt in r.stdout, opt


def _check_schema(doc):
    assert set(doc) == {"model", "settings", "results", "summary"}
    assert isinstance(doc["model"], str) and isinstance(doc["settings"], dict)
    assert isinstance(doc["results"], list) and doc["results"]
    for r in doc["results"]:
        for k in RESULT_KEYS: assert k in r, k
        assert isinstance(r["relation"], str) and isinstance(r["method"], str)
        for k in ("seed", "n_test", "n_edits"): assert type(r[k]) is int, (k, r[k])
        assert isinstance(r["seconds"], (int, float)) and r["seconds"] >= 0
        for k in ("accuracy", "causality"):
            assert r[k] is None or (isinstance(r[k], float) and 0 <= r[k] <= 1), (k, r[k])
    assert set(doc["summary"]) == {r["method"] for r in doc["results"]}
    for m, s in doc["summary"].items():
        for k in SUMMARY_KEYS: assert k in s and (s[k] is None or isinstance(s[k], float)), (m, k)


def _summary_by_hand(results, method, metric):
    "Mean over relations within each seed (nulls skipped), then mean and population std over seeds."
    per_seed = {}
    for r in results:
        if r["method"] == method and r[metric] is not None:
            per_seed.setdefault(r["seed"], []).append(r[metric])
    means = [sum(v) / len(v) for v in per_seed.values()]
    mu = sum(means) / len(means)
    return mu, math.sqrt(sum((m - mu) ** 2 for m in means) / len(means))


def test_eval_json_schema(tiny_setup, tmp_path):
    out = tmp_path / "res.json"
    methods = ["lrc", "lrc_final_first_token", "svm", "logistic", "average"]
    r = _run(["eval", "--model", str(tiny_setup / "model"), "--relations", str(tiny_setup / "relations"),
              "--methods", *methods, "--seeds", "2", "--json", str(out), "--subject-layer", "1", "--object-layer", "2",
              "--rank", "4", "--n-lre-prompts", "4", "--beta", "0.5", "--mode", "every", "--keep-invalid"], tmp_path / "cache")
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(out.read_text())
    _check_schema(doc)
    assert doc["model"] == str(tiny_setup / "model")
    s = doc["settings"]
    assert (s["subject_layer"], s["object_layer"], s["rank"], s["beta"], s["n_lre_prompts"]) == (1, 2, 4, 0.5, 4)
    assert s["mode"] == "every"
    assert s["seeds"] == [0, 1] and s["test_prompts"] == "zero_shot"
    res = doc["results"]
    assert len(res) == 2 * 2 * len(methods)  # relation x method x seed
    assert {(x["relation"], x["method"], x["seed"]) for x in res} == {
        (rel, m, sd) for rel in ("country continent", "capital continent") for m in methods for sd in (0, 1)}
    assert all(x["n_test"] > 0 and x["accuracy"] is not None for x in res)
    for m in methods:
        for metric in ("accuracy", "causality"):
            mu, sd = _summary_by_hand(res, m, metric)
            assert abs(doc["summary"][m][f"{metric}_mean"] - mu) < 1e-9
            assert abs(doc["summary"][m][f"{metric}_std"] - sd) < 1e-9
    # the readable table names every method
    for label in ("LRC", "SVM", "logistic", "average"):
        assert label in r.stdout


def test_eval_random_model_has_nothing_valid(tiny_setup, tmp_path):
    "Without --keep-invalid a random model keeps no prompt: metrics are null, counts zero, exit status 0."
    out = tmp_path / "res.json"
    r = _run(["eval", "--model", str(tiny_setup / "model"), "--relations", str(tiny_setup / "relations"),
              "--methods", "svm", "--seeds", "1", "--json", str(out), "--subject-layer", "1", "--object-layer", "2"],
             tmp_path / "cache")
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(out.read_text())
    _check_schema(doc)
    assert all(x["accuracy"] is None and x["n_test"] == 0 for x in doc["results"])
    assert doc["summary"]["svm"]["accuracy_mean"] is None


def test_eval_bad_input(tmp_path):
    r = _run(["eval", "--model", str(tmp_path / "missing"), "--methods", "svm"], tmp_path / "cache")
    assert r.returncode != 0
    r = _run(["eval", "--methods", "pca"], tmp_path / "cache")
    assert r.returncode != 0 and "pca" in r.stderr


def test_eval_sigterm_then_resume(tiny_setup, tmp_path):
    """A real process stopped by SIGTERM (a scheduler's time limit) exits 143 and says where its finished units are;
    the same command resumes from them and writes what a run that never stopped writes, then drops the checkpoint."""
    import signal, time
    out = tmp_path / "r.json"
    args = ["eval", "--model", str(tiny_setup / "model"), "--relations", str(tiny_setup / "relations"),
            "--methods", "svm", "average", "--seeds", "12", "--keep-invalid", "--subject-layer", "1"]
    env = dict(os.environ, LRC_NB_CACHE=str(tmp_path / "cache"), PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1")
    p = subprocess.Popen([str(LRC_NB), *args, "--json", str(out)], cwd=ROOT, env=env, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    units, t0 = out.parent / (out.name + ".checkpoint") / "units.jsonl", time.time()
    while not (units.exists() and units.read_text().count("\n") >= 1):  # one relation x seed saved, 23 to go
        assert p.poll() is None and time.time() - t0 < 300, p.communicate()
        time.sleep(0.02)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 143, err
    assert "lrc_nb eval: terminated (SIGTERM)" in err and "of 24 relation × seed units are saved in the checkpoint" in err, err
    assert not out.exists() and units.exists()
    r = _run([*args, "--json", str(out)], tmp_path / "cache")
    assert r.returncode == 0, r.stderr
    assert not units.parent.exists()  # the default checkpoint is removed once the JSON is written
    r = _run([*args, "--json", str(tmp_path / "plain.json"), "--no-checkpoint"], tmp_path / "cache")
    assert r.returncode == 0, r.stderr
    resumed, plain = (json.loads(f.read_text()) for f in (out, tmp_path / "plain.json"))
    assert 1 <= resumed["settings"]["resumed_units"] < 24
    strip = lambda d: [{k: v for k, v in row.items() if k not in ("seconds", "prep_seconds")} for row in d["results"]]
    assert strip(resumed) == strip(plain) and len(plain["results"]) == 2 * 2 * 12
