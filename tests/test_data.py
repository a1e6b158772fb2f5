"""Integration tests of lrc_nb.data that do not fit a notebook: packaging of the relation files, the whole shared
data set, and environment-variable overrides. The unit tests live in nbs/02_data.ipynb."""
import json
import shutil
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import pytest

import lrc_nb.data as data
from lrc_nb.data import (Sample, load_relations, make_test_prompts, make_train_prompts, package_relations,
                         shared_relations_dir, split_samples)

ROOT = Path(__file__).resolve().parents[1]


def _skip_without_shared():
    d = shared_relations_dir()
    if d is None:
        reason = ("the shared Hernandez relations were not found: set LRC_NB_SHARED_RELATIONS or put them in "
                  "../shared/data/relations")
        print(f"SKIPPED: {reason}")
        warnings.warn(reason)
        pytest.skip(reason)
    return d


def test_module_is_not_shadowed_by_the_data_folder():
    # lrc_nb/data/ (package data, no __init__) sits beside lrc_nb/data.py: the module must win
    assert Path(data.__file__).name == "data.py"
    assert callable(data.load_relation)


def test_package_data_files_all_load():
    files = sorted((ROOT / "lrc_nb" / "data" / "relations").glob("*/*.json"))
    rels = package_relations()
    assert len(files) == len(rels) >= 8
    assert sum(len(r.samples) for r in rels) >= 200
    assert [r.name for r in load_relations(files)] == [r.name for r in rels]


def test_package_data_is_in_the_wheel(tmp_path):
    # build from a copy, so that the build leaves nothing in the checkout
    src = tmp_path / "src"
    shutil.copytree(ROOT / "lrc_nb", src / "lrc_nb", ignore=shutil.ignore_patterns("__pycache__"))
    for f in ("setup.py", "settings.ini", "README.md", "MANIFEST.in", "pyproject.toml", "LICENSE"):
        if (ROOT / f).exists(): shutil.copy(ROOT / f, src / f)
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                          "-w", str(tmp_path), str(src)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    wheel = next(tmp_path.glob("lrc_nb-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    files = sorted((ROOT / "lrc_nb" / "data" / "relations").glob("*/*.json"))
    missing = [f for f in files if f.relative_to(ROOT).as_posix() not in names]
    assert not missing, f"not packaged: {missing}"


def test_all_shared_relations_load_and_split():
    d = _skip_without_shared()
    rels = load_relations(d)
    assert len(rels) == 41
    assert sum(len(r.samples) for r in rels) > 9_000  # 9,710 after dropping exact duplicates
    for r in rels:
        assert r.samples and r.prompt_templates and r.prompt_templates_zs, r.name
        assert all("{}" in t for t in r.prompt_templates + r.prompt_templates_zs)
        assert all("\\u" not in s.subject + s.object for s in r.samples), r.name  # escaped unicode decoded
    cap = next(r for r in rels if r.name == "country capital city")
    assert Sample("Colombia", "Bogotá") in cap.samples
    splits = split_samples(rels, seed=5)
    assert split_samples(rels, seed=5) == splits
    for sp in splits:
        assert not {s.subject for s in sp.train} & {s.subject for s in sp.test}, sp.relation.name
        assert {s.object for s in sp.train} == set(sp.relation.objects)
    one_to_one = {sp.relation.name for sp in splits if not sp.test}
    assert {"country capital city", "country largest city", "pokemon evolution"} <= one_to_one
    for sp in splits:
        if not sp.test: continue
        train_subjects, train = {s.subject for s in sp.train}, set(sp.train)
        for p in make_train_prompts(sp, n_templates=1):
            assert p.subject not in {s.subject for s in p.shots}
            assert all(s in train for s in p.shots)
        for p in make_test_prompts(sp, n_templates=1):
            assert p.subject not in train_subjects and p.shots == ()


def test_shared_dir_env_override(tmp_path, monkeypatch):
    (tmp_path / "factual").mkdir()
    (tmp_path / "factual" / "x.json").write_text(json.dumps(
        {"name": "x", "prompt_templates": ["{} is"], "samples": [{"subject": "a", "object": "b"}]}))
    monkeypatch.setenv("LRC_NB_SHARED_RELATIONS", str(tmp_path))
    assert shared_relations_dir() == tmp_path
    assert [r.name for r in load_relations(shared_relations_dir())] == ["x"]
    monkeypatch.setenv("LRC_NB_SHARED_RELATIONS", str(tmp_path / "missing"))
    with pytest.warns(UserWarning, match="not a folder"):
        shared_relations_dir()


def test_validity_cache_root_follows_lrc_nb_cache(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    from transformers import LlamaConfig, LlamaForCausalLM
    from lrc_nb.models import load_model
    _, tok = load_model("smollm2")
    torch.manual_seed(0)
    m = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                     num_attention_heads=2, num_key_value_heads=1)).eval()
    monkeypatch.setenv("LRC_NB_CACHE", str(tmp_path))
    rel = package_relations()[0]
    prompts = make_test_prompts(rel, n_templates=1)[:5]
    f = data.ValidityFilter(m, tok, progress=False)
    v = f.verdicts(prompts)
    assert f.path.parent == tmp_path / "validity" and f.path.exists()
    g = data.ValidityFilter(m, tok, progress=False)
    assert g.verdicts(prompts) == v and g.stats["computed"] == 0
