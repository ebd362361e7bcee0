"""Plain-PyTorch reference for Llama-family decoders (dev-only).

Independent re-implementation of the math of HF transformers'
LlamaForCausalLM / Qwen2ForCausalLM (no transformers import). Parameter names
are the HF checkpoint names, so ``model.state_dict()`` is a valid HF state dict.

Also provides:
  * per_token_logprobs / masked_ce_loss (the trainer's loss definitions),
  * a dependency-free safetensors writer and reader,
  * a self-check (``python3 scripts/torch_llama.py``): autograd gradcheck on a
    tiny float64 config, a slow per-head/per-position reference forward, and a
    safetensors round trip.

Supported: RMSNorm, rotate-half RoPE (no rope_scaling), GQA/MQA/MHA, explicit
head_dim, q/k/v(/o) biases, tied or untied lm_head, right padding.
"""

from __future__ import annotations

import json
import math
import os
import struct
import sys
from dataclasses import dataclass
from typing import Dict, Iterable, Mapping, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# ---------------------------------------------------------------------------
# Config
# ---------------------------------------------------------------------------

SUPPORTED_ARCHITECTURES = ("LlamaForCausalLM", "Qwen2ForCausalLM")


@dataclass(frozen=True)
class LlamaConfig:
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    rope_theta: float
    rms_norm_eps: float
    tie_word_embeddings: bool
    qkv_bias: bool
    o_bias: bool
    architecture: str

    @staticmethod
    def from_hf(d: Mapping) -> "LlamaConfig":
        archs = d.get("architectures") or ["LlamaForCausalLM"]
        arch = archs[0]
        if arch not in SUPPORTED_ARCHITECTURES:
            raise ValueError(f"unsupported architecture {arch!r}")
        if d.get("rope_scaling"):
            raise ValueError("rope_scaling is not supported by this reference")
        if d.get("mlp_bias"):
            raise ValueError("mlp_bias is not supported by this reference")
        heads = int(d["num_attention_heads"])
        kv = int(d.get("num_key_value_heads") or heads)
        hidden = int(d["hidden_size"])
        head_dim = d.get("head_dim")
        head_dim = int(head_dim) if head_dim else hidden // heads
        if heads % kv != 0:
            raise ValueError("num_attention_heads must be a multiple of num_key_value_heads")
        if head_dim % 2 != 0:
            raise ValueError("head_dim must be even for RoPE")
        if arch == "Qwen2ForCausalLM":
            # Qwen2 always has q/k/v biases and never an o_proj bias.
            qkv_bias, o_bias = True, False
        else:
            # HF Llama: attention_bias applies to q, k, v AND o.
            ab = bool(d.get("attention_bias", False))
            qkv_bias, o_bias = ab, ab
        return LlamaConfig(
            vocab_size=int(d["vocab_size"]),
            hidden_size=hidden,
            intermediate_size=int(d["intermediate_size"]),
            num_hidden_layers=int(d["num_hidden_layers"]),
            num_attention_heads=heads,
            num_key_value_heads=kv,
            head_dim=head_dim,
            rope_theta=float(d.get("rope_theta", 10000.0)),
            rms_norm_eps=float(d.get("rms_norm_eps", 1e-6)),
            tie_word_embeddings=bool(d.get("tie_word_embeddings", False)),
            qkv_bias=qkv_bias,
            o_bias=o_bias,
            architecture=arch,
        )


# ---------------------------------------------------------------------------
# Model (module tree mirrors HF so parameter names match checkpoints)
# ---------------------------------------------------------------------------


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_cos_sin(
    seq: int, head_dim: int, theta: float, dtype: torch.dtype, device=None
) -> Tuple[torch.Tensor, torch.Tensor]:
    """cos/sin tables [seq, head_dim] for positions 0..seq-1 (HF layout)."""
    exponent = torch.arange(0, head_dim, 2, dtype=torch.float64, device=device) / head_dim
    inv_freq = 1.0 / (theta ** exponent)
    pos = torch.arange(seq, dtype=torch.float64, device=device)
    freqs = torch.outer(pos, inv_freq)
    emb = torch.cat([freqs, freqs], dim=-1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    return x * cos + rotate_half(x) * sin


class Attention(nn.Module):
    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        C, H, KV, D = cfg.hidden_size, cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
        self.H, self.KV, self.D = H, KV, D
        self.q_proj = nn.Linear(C, H * D, bias=cfg.qkv_bias)
        self.k_proj = nn.Linear(C, KV * D, bias=cfg.qkv_bias)
        self.v_proj = nn.Linear(C, KV * D, bias=cfg.qkv_bias)
        self.o_proj = nn.Linear(H * D, C, bias=cfg.o_bias)

    def forward(self, x, cos, sin, allowed):
        B, T, _ = x.shape
        H, KV, D = self.H, self.KV, self.D
        q = self.q_proj(x).view(B, T, H, D).transpose(1, 2)  # [B,H,T,D]
        k = self.k_proj(x).view(B, T, KV, D).transpose(1, 2)  # [B,KV,T,D]
        v = self.v_proj(x).view(B, T, KV, D).transpose(1, 2)
        q = apply_rope(q, cos, sin)
        k = apply_rope(k, cos, sin)
        if KV != H:
            rep = H // KV  # query head h reads kv head h // rep
            k = k[:, :, None].expand(B, KV, rep, T, D).reshape(B, H, T, D)
            v = v[:, :, None].expand(B, KV, rep, T, D).reshape(B, H, T, D)
        scores = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(D))
        scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
        probs = torch.softmax(scores, dim=-1)
        out = torch.matmul(probs, v).transpose(1, 2).reshape(B, T, H * D)
        return self.o_proj(out)


class MLP(nn.Module):
    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        C, I = cfg.hidden_size, cfg.intermediate_size
        self.gate_proj = nn.Linear(C, I, bias=False)
        self.up_proj = nn.Linear(C, I, bias=False)
        self.down_proj = nn.Linear(I, C, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.self_attn = Attention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.mlp = MLP(cfg)

    def forward(self, h, cos, sin, allowed):
        h = h + self.self_attn(self.input_layernorm(h), cos, sin, allowed)
        return h + self.mlp(self.post_attention_layernorm(h))


class Backbone(nn.Module):
    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList([DecoderLayer(cfg) for _ in range(cfg.num_hidden_layers)])
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)


def attention_allowed(attention_mask: Optional[torch.Tensor], B: int, T: int, device=None) -> torch.Tensor:
    """Boolean [B|1, 1, T, T]: query t may attend key s iff s <= t and key s is real."""
    causal = torch.ones(T, T, dtype=torch.bool, device=device).tril()
    if attention_mask is None:
        return causal[None, None]
    keys = attention_mask.to(torch.bool)[:, None, None, :]  # [B,1,1,T]
    return causal[None, None] & keys


class LlamaForCausalLM(nn.Module):
    """Causal LM; forward(ids [B,T], attention_mask [B,T] or None) -> logits [B,T,V]."""

    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.cfg = cfg
        self.model = Backbone(cfg)
        if not cfg.tie_word_embeddings:
            self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)

    def output_weight(self) -> torch.Tensor:
        if self.cfg.tie_word_embeddings:
            return self.model.embed_tokens.weight
        return self.lm_head.weight

    def forward(self, ids: torch.Tensor, attention_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        B, T = ids.shape
        cfg = self.cfg
        h = self.model.embed_tokens(ids)
        cos, sin = rope_cos_sin(T, cfg.head_dim, cfg.rope_theta, h.dtype, h.device)
        allowed = attention_allowed(attention_mask, B, T, h.device)
        for layer in self.model.layers:
            h = layer(h, cos, sin, allowed)
        h = self.model.norm(h)
        return F.linear(h, self.output_weight())


def init_random_(model: LlamaForCausalLM, gen: torch.Generator, std: float = 0.2,
                 norm_std: float = 0.1, bias_std: float = 0.1) -> None:
    """Deterministic init: matrices N(0, std), norm weights 1 + N(0, norm_std),
    biases N(0, bias_std). Draws happen in sorted-parameter-name order."""
    with torch.no_grad():
        for name, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float64)
            if name.endswith("norm.weight"):
                p.copy_(1.0 + norm_std * noise)
            elif name.endswith(".bias"):
                p.copy_(bias_std * noise)
            else:
                p.copy_(std * noise)


# ---------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------


def per_token_logprobs(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """lp[b,t] = log_softmax(logits[b,t-1])[ids[b,t]] for t >= 1; lp[b,0] = 0."""
    lsm = torch.log_softmax(logits[:, :-1], dim=-1)
    picked = lsm.gather(-1, ids[:, 1:, None]).squeeze(-1)
    return torch.cat([torch.zeros_like(picked[:, :1]), picked], dim=1)


def masked_ce_loss(logits: torch.Tensor, ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """-sum(lp * m) / sum(m) with m[b,t] = attention_mask[b,t] for t >= 1, m[b,0] = 0."""
    lsm = torch.log_softmax(logits[:, :-1], dim=-1)
    lp = lsm.gather(-1, ids[:, 1:, None]).squeeze(-1)
    m = attention_mask[:, 1:].to(lp.dtype)
    return -(lp * m).sum() / m.sum()


# ---------------------------------------------------------------------------
# safetensors (no external package)
# ---------------------------------------------------------------------------

_DTYPES = {
    "F32": (torch.float32, np.float32),
    "F64": (torch.float64, np.float64),
    "I64": (torch.int64, np.int64),
    "I32": (torch.int32, np.int32),
}
_TORCH_TO_ST = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64", torch.int32: "I32"}


def safetensors_bytes(tensors: Mapping[str, torch.Tensor], metadata: Optional[Mapping[str, str]] = None) -> bytes:
    header: Dict[str, object] = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    chunks = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        if t.dtype not in _TORCH_TO_ST:
            raise TypeError(f"{name}: unsupported dtype {t.dtype}")
        np_dtype = _DTYPES[_TORCH_TO_ST[t.dtype]][1]
        raw = t.numpy().astype(np.dtype(np_dtype).newbyteorder("<"), copy=False).tobytes(order="C")
        header[name] = {"dtype": _TORCH_TO_ST[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((8 - len(hjson) % 8) % 8)
    return struct.pack("<Q", len(hjson)) + hjson + b"".join(chunks)


def save_safetensors(path: str, tensors: Mapping[str, torch.Tensor], metadata: Optional[Mapping[str, str]] = None) -> None:
    data = safetensors_bytes(tensors, metadata)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def load_safetensors(path: str) -> Tuple[Dict[str, torch.Tensor], Dict[str, str]]:
    """Strict reader: checks offsets are contiguous, in-bounds and sizes match shapes."""
    with open(path, "rb") as f:
        data = f.read()
    (hlen,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + hlen].decode("utf-8"))
    body = data[8 + hlen:]
    meta = header.pop("__metadata__", {}) or {}
    out: Dict[str, torch.Tensor] = {}
    spans = []
    for name, info in header.items():
        tdtype, np_dtype = _DTYPES[info["dtype"]]
        start, end = info["data_offsets"]
        shape = tuple(info["shape"])
        n = int(np.prod(shape)) if shape else 1
        if end - start != n * np.dtype(np_dtype).itemsize or end > len(body):
            raise ValueError(f"{path}: bad offsets for {name}")
        arr = np.frombuffer(body, dtype=np.dtype(np_dtype).newbyteorder("<"), count=n, offset=start)
        out[name] = torch.from_numpy(arr.astype(np_dtype).reshape(shape).copy())
        spans.append((start, end))
    spans.sort()
    pos = 0
    for s, e in spans:
        if s != pos:
            raise ValueError(f"{path}: non-contiguous data at {s}")
        pos = e
    if pos != len(body):
        raise ValueError(f"{path}: trailing bytes")
    return out, meta


# ---------------------------------------------------------------------------
# Self-check
# ---------------------------------------------------------------------------


def _slow_reference_logits(model: LlamaForCausalLM, ids: torch.Tensor, am: torch.Tensor) -> torch.Tensor:
    """Deliberately naive forward: explicit loops over batch, head, query position;
    RoPE applied pairwise with cos/sin per frequency; GQA via integer division."""
    cfg = model.cfg
    sd = dict(model.named_parameters())
    H, KV, D, C = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim, cfg.hidden_size
    B, T = ids.shape
    half = D // 2

    def rms(x, w):
        return x / torch.sqrt((x * x).mean(-1, keepdim=True) + cfg.rms_norm_eps) * w

    def rope_vec(v, pos):
        outv = v.clone()
        for j in range(half):
            ang = pos / (cfg.rope_theta ** (2 * j / D))
            c, s = math.cos(ang), math.sin(ang)
            a, b = v[j], v[j + half]
            outv[j] = a * c - b * s
            outv[j + half] = b * c + a * s
        return outv

    def lin(x, pre, bias_ok):
        y = x @ sd[pre + ".weight"].T
        if bias_ok and (pre + ".bias") in sd:
            y = y + sd[pre + ".bias"]
        return y

    res = []
    for b in range(B):
        h = sd["model.embed_tokens.weight"][ids[b]]
        for li in range(cfg.num_hidden_layers):
            p = f"model.layers.{li}."
            x = rms(h, sd[p + "input_layernorm.weight"])
            q = lin(x, p + "self_attn.q_proj", True)
            k = lin(x, p + "self_attn.k_proj", True)
            v = lin(x, p + "self_attn.v_proj", True)
            att = torch.zeros(T, H * D, dtype=h.dtype)
            for hh in range(H):
                g = hh // (H // KV)
                keys = [rope_vec(k[s, g * D:(g + 1) * D], s) for s in range(T)]
                for t in range(T):
                    qv = rope_vec(q[t, hh * D:(hh + 1) * D], t)
                    idx = [s for s in range(t + 1) if am[b, s] == 1]
                    sc = torch.stack([qv @ keys[s] for s in idx]) / math.sqrt(D)
                    w = torch.softmax(sc, 0)
                    att[t, hh * D:(hh + 1) * D] = sum(w[i] * v[s, g * D:(g + 1) * D] for i, s in enumerate(idx))
            h = h + lin(att, p + "self_attn.o_proj", True)
            x = rms(h, sd[p + "post_attention_layernorm.weight"])
            gt = lin(x, p + "mlp.gate_proj", False)
            up = lin(x, p + "mlp.up_proj", False)
            h = h + lin(gt * torch.sigmoid(gt) * up, p + "mlp.down_proj", False)
        h = rms(h, sd["model.norm.weight"])
        res.append(h @ model.output_weight().T)
    return torch.stack(res)


def _selfcheck() -> int:
    torch.set_num_threads(1)
    ok = True
    tiny_cfgs = [
        dict(architectures=["LlamaForCausalLM"], vocab_size=11, hidden_size=8, intermediate_size=12,
             num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=4,
             rope_theta=100.0, rms_norm_eps=1e-5, tie_word_embeddings=False),
        dict(architectures=["Qwen2ForCausalLM"], vocab_size=9, hidden_size=8, intermediate_size=10,
             num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1, head_dim=6,
             rope_theta=1000.0, rms_norm_eps=1e-6, tie_word_embeddings=True),
        dict(architectures=["LlamaForCausalLM"], vocab_size=7, hidden_size=6, intermediate_size=8,
             num_hidden_layers=1, num_attention_heads=3, num_key_value_heads=3,
             rope_theta=10000.0, rms_norm_eps=1e-6, tie_word_embeddings=True, attention_bias=True),
    ]
    for i, d in enumerate(tiny_cfgs):
        cfg = LlamaConfig.from_hf(d)
        gen = torch.Generator().manual_seed(100 + i)
        model = LlamaForCausalLM(cfg).double()
        init_random_(model, gen, std=0.3)
        B, T = 2, 5
        ids = torch.randint(0, cfg.vocab_size, (B, T), generator=gen)
        am = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])

        # 1. naive forward agreement (all positions, pads included)
        with torch.no_grad():
            fast = model(ids, am)
            slow = _slow_reference_logits(model, ids, am)
        err = (fast - slow).abs().max().item()
        print(f"[cfg{i}] fast vs naive forward max|diff| = {err:.3e}")
        ok &= err < 1e-10

        # 2. gradcheck of masked_ce_loss w.r.t. every parameter
        names = [n for n, _ in model.named_parameters()]
        base = [p.detach().clone() for _, p in model.named_parameters()]

        def f(*params):
            logits = _call_with(model, dict(zip(names, params)), ids, am)
            return masked_ce_loss(logits, ids, am)

        inputs = tuple(t.clone().requires_grad_(True) for t in base)
        passed = torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-7, rtol=1e-5)
        print(f"[cfg{i}] gradcheck over {sum(t.numel() for t in base)} params: {passed}")
        ok &= bool(passed)

    # 3. safetensors round trip
    tens = {"b": torch.randn(3, 4), "a": torch.arange(6).view(2, 3), "s": torch.tensor(1.5)}
    blob = safetensors_bytes(tens, {"format": "pt"})
    (hl,) = struct.unpack("<Q", blob[:8])
    assert hl % 8 == 0
    import tempfile
    with tempfile.TemporaryDirectory() as td:
        path = os.path.join(td, "x.safetensors")
        save_safetensors(path, tens, {"format": "pt"})
        back, meta = load_safetensors(path)
    rt = all(torch.equal(back[k], tens[k]) and back[k].dtype == tens[k].dtype for k in tens) and meta == {"format": "pt"}
    print(f"safetensors round trip: {rt}")
    ok &= rt
    print("SELFCHECK", "PASSED" if ok else "FAILED")
    return 0 if ok else 1


def _call_with(model: nn.Module, params: Mapping[str, torch.Tensor], *args):
    """Call model with its parameters temporarily replaced by `params` (for gradcheck)."""
    try:
        from torch.nn.utils.stateless import functional_call  # torch >= 1.12
    except ImportError:  # pragma: no cover
        functional_call = None
    if functional_call is not None:
        return functional_call(model, dict(params), args)
    raise RuntimeError("torch.nn.utils.stateless.functional_call unavailable")


if __name__ == "__main__":
    sys.exit(_selfcheck())
