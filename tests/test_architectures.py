"""Block discovery and hidden-state extraction on tiny random models of many architectures.

Each model is built from a config (no download): 3 decoder blocks, width 32, random weights with a large
init scale so that a wrong position, a wrong token or an ignored mask changes the states far beyond the
tolerance. The tokenizer is a word-level one built in memory (`conftest.make_tiny_tokenizer`), which gives
character offsets like a real fast tokenizer.

What is checked for every architecture:
- `decoder_blocks` finds the text decoder's block list (for multimodal Gemma 3, not the vision tower's, whose
  list has the same length here);
- `extract_states` / `extract_subject_states` / `extract_object_states` equal `output_hidden_states[i + 1]` of an
  unpadded forward pass of the same prompt, for every block; at the last block HF returns the state after
  the final norm, so there we compare `final_norm(ours)`;
- left and right padding give identical states (also with a BOS token, also when the subject is the first
  token);
- hooks are removed when the forward pass raises, and after an early stop;
- the caller's tokenizer (padding side, pad token, backend padding) and the model (config, weights, mode) are
  unchanged afterwards;
- the LRE's per-prompt Jacobians (cached prefix, split attention, blocks 0..l_s replayed, padded suffixes, each
  where the model allows it) equal those of whole prompts without a cache, in float64;
- `CausalEditor`: batched, left-padded greedy generation with a cache and the edit in the prefill, and the
  teacher-forced answer probabilities (right padding), with and without an edit, equal one prompt at a time
  without padding or a cache, the edit written out by hand.
"""
from __future__ import annotations

import functools
import hashlib

import pytest
import torch
import transformers as T
from torch import nn

from conftest import TINY_VOCAB_SIZE, make_tiny_tokenizer
from lrc_nb.extraction import (StopForward, answer_token_positions, block_hooks, extract_object_states,
                               extract_states, extract_subject_states, find_subject_tokens, run_model, tokenize)
from lrc_nb.models import block_list_path, decoder_blocks, hidden_size, num_blocks, resolve_layer, text_config

V, D, L, FF, INIT = TINY_VOCAB_SIZE, 32, 3, 64, 0.3
IDS = dict(pad_token_id=0, bos_token_id=2, eos_token_id=3)
# the fields most decoder configs share
STD = dict(vocab_size=V, hidden_size=D, intermediate_size=FF, num_hidden_layers=L, num_attention_heads=2,
           max_position_embeddings=64, initializer_range=INIT, **IDS)


def _gemma3_mm():
    text = dict(STD, num_key_value_heads=1, head_dim=16, sliding_window=4)
    # the vision tower also has L layers: block discovery must not be fooled by a list of the same length
    vision = dict(hidden_size=D, intermediate_size=FF, num_hidden_layers=L, num_attention_heads=2, image_size=28,
                  patch_size=14)
    return T.Gemma3Config(text_config=text, vision_config=vision, mm_tokens_per_image=4, initializer_range=INIT,
                          image_token_index=V - 1, boi_token_index=V - 2, eoi_token_index=V - 3, **IDS)


# name -> (config factory, model class, path of the block list, path of the final norm)
ARCHS = {
    "gpt2": (lambda: T.GPT2Config(vocab_size=V, n_positions=64, n_embd=D, n_layer=L, n_head=2,
                                  initializer_range=INIT, **IDS),
             T.GPT2LMHeadModel, "transformer.h", "transformer.ln_f"),
    "gptj": (lambda: T.GPTJConfig(vocab_size=V, n_positions=64, n_embd=D, n_layer=L, n_head=2, rotary_dim=8,
                                  initializer_range=INIT, **IDS),
             T.GPTJForCausalLM, "transformer.h", "transformer.ln_f"),
    "gpt_neox": (lambda: T.GPTNeoXConfig(**STD), T.GPTNeoXForCausalLM, "gpt_neox.layers", "gpt_neox.final_layer_norm"),
    "llama": (lambda: T.LlamaConfig(num_key_value_heads=1, **STD), T.LlamaForCausalLM, "model.layers", "model.norm"),
    "mistral": (lambda: T.MistralConfig(num_key_value_heads=1, sliding_window=4, **STD),
                T.MistralForCausalLM, "model.layers", "model.norm"),
    "qwen2": (lambda: T.Qwen2Config(num_key_value_heads=1, **STD), T.Qwen2ForCausalLM, "model.layers", "model.norm"),
    "gemma": (lambda: T.GemmaConfig(num_key_value_heads=1, head_dim=16, **STD),
              T.GemmaForCausalLM, "model.layers", "model.norm"),
    "gemma2": (lambda: T.Gemma2Config(num_key_value_heads=1, head_dim=16, sliding_window=4, **STD),
               T.Gemma2ForCausalLM, "model.layers", "model.norm"),
    "gemma3_text": (lambda: T.Gemma3TextConfig(num_key_value_heads=1, head_dim=16, sliding_window=4, **STD),
                    T.Gemma3ForCausalLM, "model.layers", "model.norm"),
    "gemma3_multimodal": (_gemma3_mm, T.Gemma3ForConditionalGeneration,
                          "model.language_model.layers", "model.language_model.norm"),
    "phi3": (lambda: T.Phi3Config(num_key_value_heads=1, **STD), T.Phi3ForCausalLM, "model.layers", "model.norm"),
    "opt": (lambda: T.OPTConfig(vocab_size=V, hidden_size=D, ffn_dim=FF, num_hidden_layers=L, num_attention_heads=2,
                                max_position_embeddings=64, word_embed_proj_dim=D, init_std=INIT, **IDS),
            T.OPTForCausalLM, "model.decoder.layers", "model.decoder.final_layer_norm"),
    "falcon": (lambda: T.FalconConfig(vocab_size=V, hidden_size=D, num_hidden_layers=L, num_attention_heads=2,
                                      initializer_range=INIT, **IDS),
               T.FalconForCausalLM, "transformer.h", "transformer.ln_f"),
    "falcon_alibi": (lambda: T.FalconConfig(vocab_size=V, hidden_size=D, num_hidden_layers=L, num_attention_heads=2,
                                            alibi=True, initializer_range=INIT, **IDS),
                     T.FalconForCausalLM, "transformer.h", "transformer.ln_f"),
    "bloom": (lambda: T.BloomConfig(vocab_size=V, hidden_size=D, n_layer=L, n_head=2, initializer_range=INIT, **IDS),
              T.BloomForCausalLM, "transformer.h", "transformer.ln_f"),
    "olmo": (lambda: T.OlmoConfig(**STD), T.OlmoForCausalLM, "model.layers", "model.norm"),
}
NAMES = list(ARCHS)

# prompts of different lengths (so batches are padded); the last one mentions its subject twice
PROMPTS = ["the eiffel tower is in the city of", "france is a country in", "tokyo is the capital of",
           "mount fuji is in", "rome is in italy . the eiffel tower is in"]
SUBJECTS = ["the eiffel tower", "france", "tokyo", "mount fuji", "the eiffel tower"]
ANSWERS = ["paris", "europe", "japan", "japan", "washington d . c ."]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    "Tiny matrices: one thread is faster, and far faster on a busy machine (45 ms -> 0.1 ms per linear layer)."
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@functools.lru_cache(maxsize=None)
def tiny_model(name: str):
    make_cfg, cls, _, _ = ARCHS[name]
    torch.manual_seed(0)
    model = cls(make_cfg()).eval()
    with torch.no_grad():  # LayerNorm/RMSNorm weights start at 1 (or 0 for Gemma's 1+w): randomise them too
        for n, p in model.named_parameters():
            if "norm" in n or "ln" in n: p.add_(torch.randn_like(p) * 0.2)
    return model


def tok_(bos=False, **kw): return make_tiny_tokenizer(bos=bos, **kw)


def reference(model, tok, text):
    "output_hidden_states of an unpadded forward pass of one prompt: a tuple of [T, d]."
    ids = torch.tensor([tok(text)["input_ids"]])
    with torch.no_grad(): out = model(input_ids=ids, output_hidden_states=True)
    return [h[0] for h in out.hidden_states]


def close(a, b, msg=""): torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=lambda m: f"{msg}\n{m}")


def final_norm(name, model): return model.get_submodule(ARCHS[name][3])


def n_hooks(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_decoder_blocks(name):
    model = tiny_model(name)
    _, _, path, _ = ARCHS[name]
    assert text_config(model).num_hidden_layers == L
    assert block_list_path(model) == path
    blocks = decoder_blocks(model)
    expected = model.get_submodule(path)
    assert len(blocks) == L == num_blocks(model) and all(b is e for b, e in zip(blocks, expected))
    assert hidden_size(model) == D
    assert resolve_layer(model, -1) == L - 1 and resolve_layer(model, 0) == 0
    with pytest.raises(IndexError, match="out of range"): resolve_layer(model, L)
    with pytest.raises(IndexError, match="out of range"): resolve_layer(model, -L - 1)
    # a user template always wins
    assert decoder_blocks(model, path + ".{}")[1] is expected[1]
    assert decoder_blocks(model, path)[2] is expected[2]


def test_multimodal_gemma3_vision_tower_has_a_list_of_the_same_length():
    model = tiny_model("gemma3_multimodal")
    same = [n for n, m in model.named_modules() if isinstance(m, nn.ModuleList) and len(m) == L]
    assert any("vision" in n for n in same) and len(same) >= 2, same  # the case the search must get right
    assert all(b is t for b, t in zip(decoder_blocks(model), model.model.language_model.layers))


# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bos,style", [(False, "whitespace"), (True, "whitespace"), (True, "metaspace")],
                         ids=["words", "bos", "sentencepiece_like"])
@pytest.mark.parametrize("name", NAMES)
def test_subject_states_equal_hidden_states(name, bos, style):
    model, tok = tiny_model(name), tok_(bos, style=style)
    layers = list(range(L))
    got = {side: extract_subject_states(model, tok, PROMPTS, SUBJECTS, layers, padding_side=side, batch_size=8)
           for side in ("right", "left")}
    idx = find_subject_tokens(tok, PROMPTS, SUBJECTS)
    assert idx[1] == int(bos) and idx[2] == int(bos)  # subject is the first (real) token
    assert idx[4] == len(tok(PROMPTS[4])["input_ids"]) - 3  # last occurrence: "tower" before "is in"
    norm = final_norm(name, model)
    for i, (p, j) in enumerate(zip(PROMPTS, idx)):
        hs = reference(model, tok, p)
        for side in ("right", "left"):
            for l in layers[:-1]:
                close(got[side][l][i], hs[l + 1][j], f"{name} {side} layer {l} prompt {i}")
            with torch.no_grad(): normed = norm(got[side][L - 1][i])
            close(normed, hs[L][j], f"{name} {side} last layer (after final norm) prompt {i}")
            assert not torch.allclose(got[side][L - 1][i], hs[L][j], atol=1e-3)  # the documented difference
    for l in layers: close(got["left"][l], got["right"][l], f"{name} left vs right padding, layer {l}")


@pytest.mark.parametrize("name", NAMES)
def test_object_states_and_positions(name):
    "Averages over several positions (multi-token answers) under both paddings, and explicit positions."
    model, tok = tiny_model(name), tok_(bos=True, style="metaspace" if name.startswith(("llama", "gemma")) else "whitespace")
    aps = [answer_token_positions(tok, p, a) for p, a in zip(PROMPTS, ANSWERS)]
    assert tok.decode(list(aps[4].answer_ids)).strip() == ANSWERS[4]
    assert len(aps[4].positions) == 5 and aps[0].positions == (len(tok(aps[0].text)["input_ids"]) - 2,)
    for side in ("right", "left"):
        mean = extract_object_states(model, tok, PROMPTS, ANSWERS, [0, 1], padding_side=side, batch_size=3)
        first = extract_object_states(model, tok, PROMPTS, ANSWERS, [1], aggregation="first_token",
                                      padding_side=side)
        for i, ap in enumerate(aps):
            hs = reference(model, tok, ap.text)
            for l in (0, 1): close(mean[l][i], hs[l + 1][list(ap.positions)].mean(0), f"{name} {side} mean {i}")
            close(first[1][i], hs[2][ap.positions[0]], f"{name} {side} first_token {i}")
    # explicit positions, negative ones included, and a single string prompt
    st = extract_states(model, tok, PROMPTS[:2], [-2], [-1, [0, -1]], padding_side="left")
    hs0, hs1 = reference(model, tok, PROMPTS[0]), reference(model, tok, PROMPTS[1])
    close(st[1][0], hs0[2][-1]); close(st[1][1], hs1[2][[0, -1]].mean(0))
    assert st[1].dtype == torch.float32 and st[1].shape == (2, D)


# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_model_inputs_positions(name):
    """Left padding needs position ids counted from the mask. Models that take `position_ids` get them from
    `Batch.model_inputs`; Bloom (ALiBi from the mask) takes none. Without them, GPT-2 (absolute learned
    positions) goes wrong under left padding: the control that shows the padding test can fail."""
    model, tok = tiny_model(name), tok_()
    batch = tokenize(tok, PROMPTS, padding_side="left")
    kw = batch.model_inputs(model)
    assert ("position_ids" in kw) == (name != "bloom")
    if "position_ids" in kw:
        assert kw["position_ids"][3].tolist() == [0] * batch.starts[3] + list(range(batch.lengths[3]))
    kw.pop("position_ids", None)
    with torch.no_grad(): hs = model(**kw, output_hidden_states=True).hidden_states
    ref = reference(model, tok, PROMPTS[3])
    same = torch.allclose(hs[1][3, batch.starts[3]:], ref[1], rtol=1e-4, atol=1e-5)
    assert same == (name != "gpt2"), f"{name}: without position ids, left padding {'kept' if same else 'changed'} the states"


# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_hooks_removed_after_exception_and_early_stop(name):
    model, tok = tiny_model(name), tok_()
    base = n_hooks(model)
    batch = tokenize(tok, PROMPTS[:2])
    with torch.no_grad(): before = model(**batch.model_inputs(model)).logits

    def boom(h, l): raise RuntimeError("boom in a hook")
    with pytest.raises(RuntimeError, match="boom"):
        with block_hooks(model, {0: lambda h, l: h * 2, 1: boom, -1: lambda h, l: None}):
            assert n_hooks(model) == base + 3
            with torch.no_grad(): model(**batch.model_inputs(model))
    assert n_hooks(model) == base
    with pytest.raises(RuntimeError, match="boom"):
        run_model(model, batch, read=[0, 2], edits={1: boom})
    assert n_hooks(model) == base
    with pytest.raises(IndexError, match="out of range"):  # a bad layer after good ones: nothing left behind
        with block_hooks(model, {0: lambda h, l: None, L: boom}): pass
    assert n_hooks(model) == base
    # an early stop: the deepest block read is 0, so block 1 never runs
    ran = []
    with block_hooks(model, {1: lambda h, l: ran.append(l)}):
        out, seen = run_model(model, batch, read=[0], stop_after=0)
    assert out is None and list(seen) == [0] and ran == []
    with pytest.raises(StopForward):
        with block_hooks(model, {0: lambda h, l: (_ for _ in ()).throw(StopForward())}):
            model(**batch.model_inputs(model))
    assert n_hooks(model) == base
    # the model computes exactly what it did before (no edit left behind)
    with torch.no_grad(): after = model(**batch.model_inputs(model)).logits
    assert torch.equal(before, after)


def _tok_state(tok):
    b = tok.backend_tokenizer
    return (tok.padding_side, tok.truncation_side, tok.pad_token, tok.pad_token_id, tok.eos_token,
            tok.bos_token, tok.model_max_length, b.padding, b.truncation, len(tok))


def _model_state(model):
    h = hashlib.sha256()
    for n, p in model.state_dict().items(): h.update(n.encode()); h.update(p.detach().numpy().tobytes())
    return (model.config.to_json_string(), model.generation_config.to_json_string() if model.generation_config
            else None, model.training, [p.requires_grad for p in model.parameters()], h.hexdigest())


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("pad,side", [(True, "left"), (False, "right")], ids=["pad_token-left", "no_pad_token-right"])
def test_caller_settings_unchanged(name, pad, side):
    model = tiny_model(name)
    tok = tok_(bos=True, pad=pad)
    tok.padding_side = side  # the caller's choice; we pad on the other side too (last), without touching it
    tb, mb = _tok_state(tok), _model_state(model)
    for side in (side, {"left": "right", "right": "left"}[side]):
        extract_subject_states(model, tok, PROMPTS, SUBJECTS, [0, -1], padding_side=side)
        extract_object_states(model, tok, PROMPTS, ANSWERS, [1], padding_side=side)
    assert _tok_state(tok) == tb and (tok.pad_token is None) == (not pad)
    assert _model_state(model) == mb


@pytest.mark.parametrize("name", ["gpt2", "llama", "gemma3_multimodal"])
def test_clear_errors(name):
    model, tok = tiny_model(name), tok_()
    with pytest.raises(ValueError, match="no prompts"): extract_subject_states(model, tok, [], [], [0])
    with pytest.raises(ValueError, match="not found"): extract_subject_states(model, tok, ["paris is in"], ["rome"], [0])
    with pytest.raises(ValueError, match="empty subject"): extract_subject_states(model, tok, ["paris is in"], [" "], [0])
    with pytest.raises(IndexError, match="out of range"):
        extract_subject_states(model, tok, ["paris is in"], ["paris"], [L])
    with pytest.raises(ValueError, match="1 prompts but 2"): extract_subject_states(model, tok, ["paris"], ["a", "b"], [0])
    with pytest.raises(ValueError, match="empty answer"): extract_object_states(model, tok, ["paris is in"], [""], [0])


# ---------------------------------------------------------------------------------------------------------------
def lre_prompts():
    "PROMPTS as `lrc_nb.data.Prompt`s (what the LRE trains on)."
    from lrc_nb.data import Prompt
    return [Prompt(p, s, a, relation="tiny") for p, s, a in zip(PROMPTS, SUBJECTS, ANSWERS)]


@pytest.mark.parametrize("name", NAMES)
def test_lre_jacobians_skip_and_padding_match_whole_prompts(name):
    """The LRE's fast paths (cached prefix, split attention, blocks 0..l_s taken from the plain pass, padded or packed suffixes)
    give the same per-prompt Jacobians as whole prompts without any cache, in float64, on every architecture; where a
    path cannot reproduce `o` it must say why and fall back, never change J. Also: no instance `forward` is left."""
    import copy
    from lrc_nb import lre as L
    model, tok = copy.deepcopy(tiny_model(name)).double(), tok_()
    prompts = lre_prompts()
    ls, lo = 1, 2
    ref = L.prompt_jacobians(model, tok, prompts, ls, lo, prefix_cache=False, progress=False).J
    items = L._items(tok, prompts, "mean")
    with L._differentiable_attention(model):
        lins = [L._Linearization(model, tok, items, idx, ls, lo) for idx in L._groups(items, 32)]
    for lin in lins:  # every group either skips blocks 0..l_s or says why not
        assert lin.skip or lin.kv is None or not lin.split or lin.__dict__.get("skip_reason"), (name, lin.idx)
    for pad, pack in ((False, False), (True, False), (False, True)):
        J = L.prompt_jacobians(model, tok, prompts, ls, lo, pad_suffixes=pad, pack_suffixes=pack, progress=False).J
        err = ((J - ref).norm() / ref.norm()).item()
        assert err < 1e-7, (name, pad, pack, err)  # float64; Gemma 2 still computes a part in float32 (2e-8 on every path)
    with L._differentiable_attention(model):  # packing is used wherever the split attention is, or says why not
        packed = list(L._linearize(model, tok, items, L._groups(items, 32, True), ls, lo, pack=True, pad=False))
    for lin in packed:
        if lin.split and len({items[i].suffix for i in lin.idx}) > 1: assert lin.packed, (name, lin.__dict__.get("pack_reason"))
    assert not any("forward" in m.__dict__ for m in model.modules()), name


class _OldStyleTanh(torch.autograd.Function):
    "tanh as an autograd.Function without `setup_context` (as BLOOM's GeLU is): torch.func cannot transform it."
    @staticmethod
    def forward(ctx, x):
        y = torch.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        y, = ctx.saved_tensors
        return g * (1 - y * y)


class _OldStyleAct(nn.Module):
    def forward(self, x): return _OldStyleTanh.apply(x)


def test_lre_untransformable_function_is_a_clear_error():
    """An autograd.Function torch.func cannot transform (and that `_plain_twins` does not know) is refused with the
    reason, not a torch internals error, and the model is left as it was (no instance `forward`); BLOOM's twin
    computes the same function and derivative as its GeLU (its swap being undone is checked for every architecture
    above)."""
    import copy
    from lrc_nb import lre as L
    model, tok = copy.deepcopy(tiny_model("llama")).double(), tok_()
    model.model.layers[2].mlp.act_fn = _OldStyleAct()
    prompts = lre_prompts()
    with pytest.raises(NotImplementedError, match="torch.func cannot differentiate"):
        L.prompt_jacobians(model, tok, prompts, 1, 2, progress=False)
    assert not any("forward" in m.__dict__ for m in model.modules())
    bloom = copy.deepcopy(tiny_model("bloom"))
    twins = L._plain_twins(bloom)
    assert len(twins) == _n_bloom_gelus(bloom) > 0
    x = torch.randn(5, 7, dtype=torch.float64, requires_grad=True)
    from transformers.models.bloom.modeling_bloom import GeLUFunction
    ours, theirs = twins[0][1](x), GeLUFunction.apply(x)
    torch.testing.assert_close(ours, theirs)  # the same function ...
    torch.testing.assert_close(torch.autograd.grad(ours.sum(), x)[0], torch.autograd.grad(theirs.sum(), x)[0])  # ... and derivative


def _n_bloom_gelus(model): return sum(type(m).__name__ == "BloomGelu" for m in model.modules())


# ---------------------------------------------------------------------------------------------------------------
# Causal edits: the editor's batched, padded, cached generation and its teacher-forced answer probabilities
# against one prompt at a time, without padding or a cache, the edit written out by hand.
def _concept(name, seed, layer=1):
    from types import SimpleNamespace
    return SimpleNamespace(name=name, layer=layer, vector=torch.randn(D, generator=torch.Generator().manual_seed(seed)))


def _subject_last(tok, text, subject):
    "Index of the subject's last token in `tok(text)`, counted by hand (word-level tokenizer, optional BOS)."
    end = text.index(subject) + len(subject)
    return len(text[:end].split()) - 1 + (tok("x")["input_ids"][0] == tok.bos_token_id)


def _hand_edit(model, j, src, tgt, beta):
    "Block hooks that move row 0's state at token `j` by ||h|| beta (t - s) (unit vectors), blocks src.layer on."
    s, t = src.vector / src.vector.norm(), tgt.vector / tgt.vector.norm()
    def fn(h, layer):
        h = h.clone()
        h[0, j] = h[0, j] + h[0, j].norm() * beta * (t - s).to(h.dtype)
        return h
    return {b: fn for b in range(src.layer, num_blocks(model))}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bos", [False, True])
def test_causal_editor_matches_one_prompt_without_cache(name, bos):
    from lrc_nb.causal import CausalEditor
    model, tok = tiny_model(name), tok_(bos=bos)
    src, tgt, beta, steps = _concept("a", 0), _concept("b", 1), 3.0, 4
    ed = CausalEditor(model, tok)
    got = {e: ed.generate_ids(PROMPTS, SUBJECTS, *((src, tgt) if e else (None, None)), beta=beta,
                              max_new_tokens=steps, batch_size=len(PROMPTS), stop_at_eos=False) for e in (False, True)}
    probs = {e: ed.answer_probs(PROMPTS, SUBJECTS, ANSWERS, *((src, tgt) if e else (None, None)), beta=beta,
                                batch_size=len(PROMPTS), return_token_probs=True)[1] for e in (False, True)}
    for i, (text, subject, answer) in enumerate(zip(PROMPTS, SUBJECTS, ANSWERS)):
        j = _subject_last(tok, text, subject)
        for e in (False, True):
            hooks = _hand_edit(model, j, src, tgt, beta) if e else {}
            ids = tok(text)["input_ids"]
            with torch.no_grad(), block_hooks(model, hooks):
                for _ in range(steps):  # the whole sequence every step: the edit sits at the prompt's token j
                    ids = ids + [int(model(input_ids=torch.tensor([ids]), use_cache=False).logits[0, -1].argmax())]
                full = tok(text + " " + answer)["input_ids"]
                n0 = len(tok(text)["input_ids"])
                lp = model(input_ids=torch.tensor([full]), use_cache=False).logits[0].float().log_softmax(-1)
            assert got[e][i] == ids[-steps:], (name, e, i)
            want = torch.stack([lp[n0 + k - 1, full[n0 + k]] for k in range(len(full) - n0)]).exp()
            torch.testing.assert_close(probs[e][i], want, rtol=1e-4, atol=1e-6)
    assert got[True] != got[False] or any(not torch.allclose(a, b) for a, b in zip(probs[True], probs[False])), \
        "the edit changed nothing: the test could not tell an edit from none"
