"""Regenerate test/fixtures/ (dev-only; run via `npm run fixtures`).

Deterministic: fixed seeds, single thread. All references are computed in
float64 from the float32-rounded weights/gradients that are stored, then
stored as float32.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")

import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_llama import (  # noqa: E402
    LlamaConfig,
    LlamaForCausalLM,
    init_random_,
    load_safetensors,
    masked_ce_loss,
    per_token_logprobs,
    save_safetensors,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "test", "fixtures")

B, T = 3, 10
ROW_LENGTHS = [10, 7, 4]
BOS, EOS = 1, 2


def llama_config(**kw):
    cfg = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "torch_dtype": "float32",
        "bos_token_id": BOS,
        "eos_token_id": EOS,
        "hidden_act": "silu",
        "max_position_embeddings": 128,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "mlp_bias": False,
        "initializer_range": 0.02,
        "rope_scaling": None,
        "use_cache": True,
    }
    cfg.update(kw)
    return cfg


def qwen2_config(**kw):
    # Like real Qwen2 checkpoints: no attention_bias / head_dim keys
    # (q/k/v biases are implied; head_dim = hidden_size / num_attention_heads).
    cfg = {
        "architectures": ["Qwen2ForCausalLM"],
        "model_type": "qwen2",
        "torch_dtype": "float32",
        "bos_token_id": BOS,
        "eos_token_id": EOS,
        "hidden_act": "silu",
        "max_position_embeddings": 128,
        "attention_dropout": 0.0,
        "initializer_range": 0.02,
        "rope_scaling": None,
        "sliding_window": 128,
        "use_sliding_window": False,
        "max_window_layers": 2,
        "use_cache": True,
    }
    cfg.update(kw)
    return cfg


VARIANTS = {
    "llama-gqa": llama_config(
        vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=8,
        rope_theta=10000.0, rms_norm_eps=1e-5, tie_word_embeddings=False),
    # head_dim omitted on purpose: must default to hidden_size / num_attention_heads.
    "llama-tied-mha": llama_config(
        vocab_size=50, hidden_size=24, intermediate_size=40, num_hidden_layers=2,
        num_attention_heads=3, num_key_value_heads=3,
        rope_theta=500000.0, rms_norm_eps=1e-6, tie_word_embeddings=True),
    "qwen2-bias": qwen2_config(
        vocab_size=60, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=1,
        rope_theta=1000000.0, rms_norm_eps=1e-6, tie_word_embeddings=True),
    "llama-headdim": llama_config(
        vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=16,
        rope_theta=10000.0, rms_norm_eps=1e-5, tie_word_embeddings=False),
}


def round_f32_(model: torch.nn.Module) -> None:
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.float().double())


def make_batch(cfg: LlamaConfig, gen: torch.Generator):
    ids = torch.randint(3, cfg.vocab_size, (B, T), generator=gen, dtype=torch.int64)
    ids[:, 0] = BOS
    am = torch.zeros(B, T, dtype=torch.int64)
    for b, n in enumerate(ROW_LENGTHS):
        am[b, :n] = 1
        ids[b, n:] = EOS  # right padding with the eos id
    return ids, am


def write_model_variant(name: str, hf: dict, seed: int) -> None:
    out = os.path.join(FIXTURES, name)
    os.makedirs(out, exist_ok=True)
    cfg = LlamaConfig.from_hf(hf)
    gen = torch.Generator().manual_seed(seed)
    model = LlamaForCausalLM(cfg).double()
    init_random_(model, gen, std=0.2, norm_std=0.1, bias_std=0.1)
    round_f32_(model)  # stored weights are F32; reference uses exactly those values
    ids, am = make_batch(cfg, gen)

    model.zero_grad(set_to_none=True)
    logits = model(ids, am)
    lp = per_token_logprobs(logits, ids)
    loss = masked_ce_loss(logits, ids, am)
    loss.backward()

    params = {n: p.detach().float() for n, p in model.named_parameters()}
    expected = {
        "input_ids": ids,
        "attention_mask": am,
        "logits": logits.detach().float(),
        "logprobs": lp.detach().float(),
        "loss": loss.detach().float().reshape(()),
    }
    for n, p in model.named_parameters():
        expected["grad." + n] = p.grad.detach().float()

    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(hf, f, indent=2, sort_keys=True)
        f.write("\n")
    save_safetensors(os.path.join(out, "model.safetensors"), params, {"format": "pt"})
    save_safetensors(os.path.join(out, "expected.safetensors"), expected,
                     {"format": "pt", "variant": name, "computed_in": "float64", "seed": str(seed)})

    # verify by re-reading
    back, _ = load_safetensors(os.path.join(out, "model.safetensors"))
    assert set(back) == set(params)
    for n in params:
        assert back[n].dtype == torch.float32 and torch.equal(back[n], params[n]), n
    eb, meta = load_safetensors(os.path.join(out, "expected.safetensors"))
    assert set(eb) == set(expected) and meta["variant"] == name
    for n in expected:
        assert eb[n].dtype == expected[n].dtype and torch.equal(eb[n], expected[n]), n
    # the reloaded F32 weights must reproduce the reference (in float64)
    m2 = LlamaForCausalLM(cfg).double()
    m2.load_state_dict({n: t.double() for n, t in back.items()})
    with torch.no_grad():
        re = m2(eb["input_ids"], eb["attention_mask"])
    assert (re.float() - eb["logits"]).abs().max().item() < 1e-5

    nparams = sum(p.numel() for p in params.values())
    print(f"{name}: {nparams} params, loss={loss.item():.6f}, "
          f"logits std={logits.std().item():.3f}, "
          f"max|grad|={max(g.abs().max().item() for k, g in expected.items() if k.startswith('grad.')):.3e}")


def write_adamw(seed: int = 1234) -> None:
    out = os.path.join(FIXTURES, "adamw")
    os.makedirs(out, exist_ok=True)
    hp = {"lr": 1e-2, "beta1": 0.9, "beta2": 0.95, "eps": 1e-8, "weight_decay": 0.1,
          "max_grad_norm": 1.0, "steps": 3}
    gen = torch.Generator().manual_seed(seed)
    shapes = {"p0": (5, 4), "p1": (7,)}
    # raw global grad norms per step: clipped, not clipped, clipped
    target_norms = [2.5, 0.4, 1.7]

    def f32(t):
        return t.float().double()

    params = {n: f32(torch.randn(s, generator=gen, dtype=torch.float64)).requires_grad_(True)
              for n, s in shapes.items()}
    tensors = {f"init.{n}": p.detach().float() for n, p in params.items()}
    opt = torch.optim.AdamW([params["p0"], params["p1"]], lr=hp["lr"], betas=(hp["beta1"], hp["beta2"]),
                            eps=hp["eps"], weight_decay=hp["weight_decay"])
    for k in range(1, hp["steps"] + 1):
        raw = {n: torch.randn(s, generator=gen, dtype=torch.float64) for n, s in shapes.items()}
        norm = torch.sqrt(sum((g * g).sum() for g in raw.values()))
        scale = target_norms[k - 1] / norm
        grads = {n: f32(g * scale) for n, g in raw.items()}  # exactly representable in F32
        opt.zero_grad(set_to_none=True)
        for n, p in params.items():
            p.grad = grads[n].clone()
            tensors[f"grad.step{k}.{n}"] = grads[n].float()
        total = torch.nn.utils.clip_grad_norm_([params["p0"], params["p1"]], hp["max_grad_norm"])
        tensors[f"grad_norm.step{k}"] = total.detach().float().reshape(())
        opt.step()
        for n, p in params.items():
            tensors[f"after.step{k}.{n}"] = p.detach().float()
        print(f"adamw step {k}: pre-clip norm {total.item():.6f}")

    with open(os.path.join(out, "hparams.json"), "w") as f:
        json.dump(hp, f, indent=2)
        f.write("\n")
    path = os.path.join(out, "expected.safetensors")
    save_safetensors(path, tensors, {"format": "pt", "computed_in": "float64",
                                     "optimizer": "torch.optim.AdamW", "clip": "torch.nn.utils.clip_grad_norm_"})
    back, _ = load_safetensors(path)
    assert set(back) == set(tensors)
    for n in tensors:
        assert torch.equal(back[n], tensors[n]), n


def main() -> int:
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    for i, (name, hf) in enumerate(VARIANTS.items()):
        write_model_variant(name, hf, seed=1000 + i)
    write_adamw()
    total = 0
    for dirpath, _, files in os.walk(FIXTURES):
        for fn in files:
            total += os.path.getsize(os.path.join(dirpath, fn))
    print(f"test/fixtures total: {total} bytes")
    if total >= 1 << 20:
        print("fixtures exceed 1 MB", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
