"""ConceptBank files are data, never code: loading must not unpickle, and damaged banks are refused with a reason."""
from __future__ import annotations

import json
import pickle

import pytest
import torch

from lrc_nb.concepts import Concept, ConceptBank


class _Bomb:
    "Unpickling this writes a marker file: if the marker appears, something unpickled the bank."
    def __init__(self, path): self.path = path
    def __reduce__(self): return (open, (self.path, "w"))


def _bank(n=3, d=8):
    g = torch.Generator().manual_seed(0)
    return ConceptBank([Concept.make("r", f"o{i}", 2, torch.randn(d, generator=g)) for i in range(n)], {"k": 1})


def test_roundtrip_exact(tmp_path):
    b = _bank()
    back = ConceptBank.load(b.save(tmp_path / "bank"))
    assert list(back) == list(b) and back.provenance == {"k": 1}
    assert all(torch.equal(x.vector, y.vector) for x, y in zip(back, b))


def _without_checksum(p):
    "As if saved before bank.json recorded the vectors' SHA-256: the file reaches the safetensors parser."
    idx = json.loads((p / "bank.json").read_text(encoding="utf-8"))
    del idx["vectors_sha256"]
    (p / "bank.json").write_text(json.dumps(idx), encoding="utf-8")


@pytest.mark.parametrize("checksum", [True, False], ids=["checksum", "no-checksum"])
def test_pickle_in_place_of_safetensors_is_not_executed(tmp_path, checksum):
    p = _bank().save(tmp_path / "bank")
    if not checksum: _without_checksum(p)
    marker = tmp_path / "UNPICKLED"
    (p / "vectors.safetensors").write_bytes(pickle.dumps(_Bomb(str(marker))))
    with pytest.raises(ValueError, match="SHA-256" if checksum else "not a bank's safetensors file"):
        ConceptBank.load(p)
    assert not marker.exists()


@pytest.mark.parametrize("checksum", [True, False], ids=["checksum", "no-checksum"])
def test_torch_save_file_is_refused(tmp_path, checksum):
    "A file written by torch.save (a zip of pickles) is not a safetensors file."
    p = _bank().save(tmp_path / "bank")
    if not checksum: _without_checksum(p)
    marker = tmp_path / "UNPICKLED"
    torch.save({"vectors": torch.zeros(3, 8), "x": _Bomb(str(marker))}, p / "vectors.safetensors")
    with pytest.raises(ValueError, match="SHA-256" if checksum else "not a bank's safetensors file"):
        ConceptBank.load(p)
    assert not marker.exists()


def test_damaged_index_is_refused(tmp_path):
    p = _bank().save(tmp_path / "bank")
    idx = json.loads((p / "bank.json").read_text())
    idx["concepts"] = idx["concepts"][:2]
    (p / "bank.json").write_text(json.dumps(idx))
    with pytest.raises(ValueError, match="2 concepts"):
        ConceptBank.load(p)
    idx["format"] = 99
    (p / "bank.json").write_text(json.dumps(idx))
    with pytest.raises(ValueError, match="unknown bank format"):
        ConceptBank.load(p)


def test_module_never_uses_pickle_or_torch_load():
    import inspect
    import lrc_nb.concepts as m
    src = inspect.getsource(m)
    assert "torch.load" not in src and "import pickle" not in src
