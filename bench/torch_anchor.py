"""PyTorch anchor for `npm run bench` (dev-only).

Usage: python3 bench/torch_anchor.py '{"config": {...HF config...}, "batch": B, "seq": T, "seed": 0}'

Optional "threads" (default 1) is the number of compute threads. This Debian
torch build (BLAS_INFO=generic) runs its matmuls in OpenBLAS, whose pool
torch.set_num_threads() does not reach, so the anchor sets
OPENBLAS_NUM_THREADS=threads itself (overriding the environment) and keeps
torch's own intra-op pool at 1: running both pools at 2 on 2 cores
oversubscribes and is ~3x slower (measured on llama-ref).

Builds a float32 Llama/Qwen2 model (random init), a random [B,T] batch with an
all-ones attention mask, AdamW(lr 1e-4, weight_decay 0.1) and grad clipping at
1.0, runs one warm-up step, prints {"ready": true, "torch": ..., "threads": n},
then serves stdin commands, one per line:
  step K  -> K train steps; prints {"ms": [per-step wall ms], "opt_ms": [of which
             clipping + AdamW], "loss": last loss}
  quit    -> exit
"""

from __future__ import annotations

import json
import os
import sys
import time


def _threads_from_argv() -> int:
    try:
        return max(1, int(json.loads(sys.argv[1]).get("threads", 1)))
    except Exception:
        return 1


# This torch build (Debian, BLAS_INFO=generic) does its matmuls in OpenBLAS,
# whose pool torch.set_num_threads() does not control; it reads its thread
# count from the environment when the library loads, so pin it before import.
_THREADS = _threads_from_argv()
os.environ["OPENBLAS_NUM_THREADS"] = str(_THREADS)
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"

import torch  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts"))
from torch_llama import LlamaConfig, LlamaForCausalLM, init_random_, masked_ce_loss  # noqa: E402


def emit(obj) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    args = json.loads(sys.argv[1])
    torch.set_num_threads(1)
    seed = int(args.get("seed", 0))
    B, T = int(args["batch"]), int(args["seq"])
    cfg = LlamaConfig.from_hf(args["config"])

    gen = torch.Generator().manual_seed(seed)
    model = LlamaForCausalLM(cfg)  # float32
    init_random_(model, gen, std=0.02, norm_std=0.0, bias_std=0.0)
    ids = torch.randint(0, cfg.vocab_size, (B, T), generator=gen, dtype=torch.int64)
    attention_mask = torch.ones(B, T, dtype=torch.int64)
    params = list(model.parameters())
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.1)

    def train_step() -> tuple:
        opt.zero_grad(set_to_none=True)
        logits = model(ids, attention_mask)
        loss = masked_ce_loss(logits, ids, attention_mask)
        loss.backward()
        t0 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return loss.item(), (time.perf_counter() - t0) * 1000.0

    train_step()  # warm-up
    emit({"ready": True, "torch": torch.__version__, "threads": _THREADS,
          "torch_intraop_threads": torch.get_num_threads(), "blas_threads": _THREADS})

    for line in sys.stdin:
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "quit":
            break
        if parts[0] == "step":
            k = int(parts[1]) if len(parts) > 1 else 1
            ms = []
            opt_ms = []
            loss = float("nan")
            for _ in range(k):
                t0 = time.perf_counter()
                loss, o = train_step()
                ms.append((time.perf_counter() - t0) * 1000.0)
                opt_ms.append(o)
            emit({"ms": ms, "opt_ms": opt_ms, "loss": loss})
        else:
            emit({"error": f"unknown command {parts[0]!r}"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
