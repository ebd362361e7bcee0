"""Regenerate test/fixtures/llama-reward/ (dev-only): a random tiny LlamaForSequenceClassification.

`transformers` is not installed here, so the model is scripts/torch_llama.py's independent Llama backbone plus
HF's sequence-classification head, written out from the transformers source:
  * `score = nn.Linear(hidden_size, num_labels, bias=False)` applied to the final-normed hidden state of every
    position, giving logits [B, T, num_labels];
  * the pooled logits are those of the last non-pad token of each row, found as HF does:
    `last = (arange(T) * (input_ids != pad_token_id)).argmax(-1)`.

Deterministic (fixed seed, one thread). Writes config.json, model.safetensors (F32) and expected.safetensors:
  input_ids I64 [B, T] (right-padded with pad_token_id 0), attention_mask I64 [B, T], rewards F32 [B, num_labels],
computed in float64 from the stored float32 weights.

    OPENBLAS_NUM_THREADS=2 /usr/bin/python3 scripts/make_reward_fixture.py
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_llama import (  # noqa: E402
    LlamaConfig,
    LlamaForCausalLM,
    attention_allowed,
    init_random_,
    load_safetensors,
    rope_cos_sin,
    save_safetensors,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "fixtures", "llama-reward")

PAD = 0
ROW_LENGTHS = [13, 6, 9, 2]
SEED = 2000

# vocab_size 272 leaves room for the world tokenizer (267 ids) the TypeScript test attaches.
HF_CONFIG = {
    "architectures": ["LlamaForSequenceClassification"],
    "model_type": "llama",
    "torch_dtype": "float32",
    "vocab_size": 272,
    "hidden_size": 32,
    "intermediate_size": 48,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 8,
    "hidden_act": "silu",
    "max_position_embeddings": 128,
    "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0,
    "rope_scaling": None,
    "attention_bias": False,
    "mlp_bias": False,
    "tie_word_embeddings": False,
    "num_labels": 2,
    "id2label": {"0": "LABEL_0", "1": "LABEL_1"},
    "label2id": {"LABEL_0": 0, "LABEL_1": 1},
    "bos_token_id": 1,
    "eos_token_id": 4,
    "pad_token_id": PAD,
}


def backbone_config() -> LlamaConfig:
    # The causal-LM reference with tied embeddings has no lm_head: exactly the classifier's backbone parameters.
    return LlamaConfig.from_hf({**HF_CONFIG, "architectures": ["LlamaForCausalLM"], "tie_word_embeddings": True})


def final_hidden(model: LlamaForCausalLM, ids: torch.Tensor, am: torch.Tensor) -> torch.Tensor:
    """Final-normed hidden states [B, T, C] (LlamaForCausalLM.forward without its output head)."""
    B, T = ids.shape
    cfg = model.cfg
    h = model.model.embed_tokens(ids)
    cos, sin = rope_cos_sin(T, cfg.head_dim, cfg.rope_theta, h.dtype)
    allowed = attention_allowed(am, B, T)
    for layer in model.model.layers:
        h = layer(h, cos, sin, allowed)
    return model.model.norm(h)


def rewards_of(model: LlamaForCausalLM, score: torch.Tensor, ids: torch.Tensor, am: torch.Tensor) -> torch.Tensor:
    """HF LlamaForSequenceClassification: score every position, pool at the last non-pad token -> [B, num_labels]."""
    logits = F.linear(final_hidden(model, ids, am), score)  # [B, T, L]
    T = ids.shape[1]
    last = (torch.arange(T) * (ids != PAD).int()).argmax(-1)
    return logits[torch.arange(ids.shape[0]), last]


def main() -> int:
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    gen = torch.Generator().manual_seed(SEED)
    cfg = backbone_config()
    model = LlamaForCausalLM(cfg).double()
    init_random_(model, gen, std=0.2, norm_std=0.1)
    score = (0.2 * torch.randn(HF_CONFIG["num_labels"], cfg.hidden_size, generator=gen, dtype=torch.float64)).float().double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.float().double())  # stored weights are F32; the reference uses exactly those values

    B, T = len(ROW_LENGTHS), max(ROW_LENGTHS)
    ids = torch.randint(5, cfg.vocab_size, (B, T), generator=gen, dtype=torch.int64)
    ids[:, 0] = 1  # bos
    am = torch.zeros(B, T, dtype=torch.int64)
    for b, n in enumerate(ROW_LENGTHS):
        am[b, :n] = 1
        ids[b, n:] = PAD
    with torch.no_grad():
        rewards = rewards_of(model, score, ids, am)
        for b, n in enumerate(ROW_LENGTHS):  # padding changes nothing: each row alone gives the same reward
            alone = rewards_of(model, score, ids[b:b + 1, :n], am[b:b + 1, :n])
            assert (alone - rewards[b]).abs().max().item() < 1e-12, b

    params = {n: p.detach().float() for n, p in model.named_parameters()}
    params["score.weight"] = score.float()
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "config.json"), "w") as f:
        json.dump(HF_CONFIG, f, indent=2, sort_keys=True)
        f.write("\n")
    save_safetensors(os.path.join(OUT, "model.safetensors"), params, {"format": "pt"})
    expected = {"input_ids": ids, "attention_mask": am, "rewards": rewards.float()}
    save_safetensors(os.path.join(OUT, "expected.safetensors"), expected,
                     {"format": "pt", "variant": "llama-reward", "computed_in": "float64", "seed": str(SEED)})

    back, _ = load_safetensors(os.path.join(OUT, "model.safetensors"))
    assert set(back) == set(params) and all(torch.equal(back[n], params[n]) for n in params)
    eb, _ = load_safetensors(os.path.join(OUT, "expected.safetensors"))
    assert all(torch.equal(eb[n], expected[n]) for n in expected)
    print(f"llama-reward: {sum(p.numel() for p in params.values())} params, rewards=\n{rewards}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
