"""Shared pytest fixtures for lrc_nb.

- `smollm2` (session): the embedded SmolLM2-135M-Instruct as `(model, tokenizer)`, loaded once per test run
  through `lrc_nb.models.load_model` (about a second once its fp32 cache exists, ~20 s the first time).
  Tests must not change it (no hooks left behind, no settings changed).
- `tiny_tokenizer` (function): a factory `tiny_tokenizer(words=TINY_WORDS, bos=False, pad=True, eos=True,
  style="whitespace")` that builds a word-level fast tokenizer in memory (no download) with character offsets,
  optionally prepending a BOS token (offset `(0, 0)`) like Llama/Gemma tokenizers do. `style="whitespace"`
  splits on whitespace and punctuation (tokens carry no space); `style="metaspace"` works like SentencePiece:
  words become `▁word` tokens whose offsets *include* the space before them.
  Ids: `<pad>`=0, `<unk>`=1, `<bos>`=2, `<eos>`=3, then the words in order; `len(tok) <= TINY_VOCAB_SIZE` for
  the default words, so tiny models can use `vocab_size=TINY_VOCAB_SIZE`.
"""
from __future__ import annotations

import pytest

TINY_WORDS = tuple("""the eiffel tower is in city of france a country tokyo capital mount fuji paris rome italy
japan usa washington d . c , he was born language speaks spoken who where""".split())
TINY_SPECIALS = ("<pad>", "<unk>", "<bos>", "<eos>")
TINY_VOCAB_SIZE = 64


def make_tiny_tokenizer(words=TINY_WORDS, bos: bool = False, pad: bool = True, eos: bool = True,
                        style: str = "whitespace"):
    "A word-level `PreTrainedTokenizerFast` over `words` (see the module docstring)."
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast
    if style == "metaspace": words = tuple("\u2581" + w for w in words) + ("\u2581",)
    elif style != "whitespace": raise ValueError(f"unknown style {style!r}")
    vocab = {w: i for i, w in enumerate(dict.fromkeys(TINY_SPECIALS + tuple(words)))}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    if style == "metaspace":
        backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first")
        backend.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="first")
    else:
        backend.pre_tokenizer = pre_tokenizers.Whitespace()
    if bos:
        backend.post_processor = processors.TemplateProcessing(
            single="<bos> $A", pair="<bos> $A <bos> $B", special_tokens=[("<bos>", vocab["<bos>"])])
    kw = dict(unk_token="<unk>", bos_token="<bos>")
    if pad: kw["pad_token"] = "<pad>"
    if eos: kw["eos_token"] = "<eos>"
    return PreTrainedTokenizerFast(tokenizer_object=backend, **kw)


@pytest.fixture
def tiny_tokenizer():
    "Factory fixture: `tiny_tokenizer(words=..., bos=False, pad=True, eos=True)` -> a fresh tokenizer."
    return make_tiny_tokenizer


@pytest.fixture(scope="session")
def smollm2():
    "The embedded SmolLM2-135M-Instruct, `(model, tokenizer)`, in eval mode (shared: do not modify)."
    from lrc_nb.models import load_model
    return load_model("smollm2")
