"""Tagger throughput: our encoder vs torch.nn.TransformerEncoder of the same size, in one run;
then our training step on random batches vs multiplicity-bucketed ones (``length_buckets``).

Both taggers share everything but the encoder (embedding, class token, FiLM-free reference,
same MLP head) and see the same batches of padded jets. The reference uses the same width,
depth, heads and pre-norm layout, with a GELU feed-forward of width 3*dim so that its
parameter count matches our GLU (hidden 2*dim, three matrices). Timings are interleaved
(ours, reference, ours, ...) and the median is reported, which keeps a shared machine's
noise out of the ratio.

Buckets: a pool of jets with a JetClass-like multiplicity spread (mean ~50 of 128 slots, as
the cpu profile's training jets) is cut into batches by ``train._batch_indices`` with K = 1 and
with the profile's K (16 if it has 1), each batch trimmed to its longest jet by
``Features.batch``; steps alternate between the two, and the median jets/s is compared.

    .venv/bin/python benchmarks/tagger.py                      # cpu-profile size
    .venv/bin/python benchmarks/tagger.py --profile paper --device cuda
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mindgap_lib.config import load_profile
from mindgap_lib.tagger import Tagger
from mindgap_lib.tagger.features import Features
from mindgap_lib.tagger.train import _batch_indices, resolve_device


class TorchEncoderTagger(Tagger):
    """The same tagger with torch.nn.TransformerEncoder as its encoder (jet features unused)."""

    def __init__(self, config):
        super().__init__(config)
        del self.blocks
        layer = nn.TransformerEncoderLayer(config.dim, config.num_heads, dim_feedforward=3 * config.dim,
                                           dropout=config.dropout, activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, config.num_layers, enable_nested_tensor=False)
        for block in self.encoder.layers:  # dropout on residual branches only, like ours (see Attention)
            block.self_attn.dropout = 0.0

    def encode(self, batch):
        x, mask = batch["particles"], batch["mask"]
        b = x.shape[0]
        x = torch.cat([self.cls_token.expand(b, -1, -1), self.embed(x)], dim=1)
        pad = ~torch.cat([mask.new_ones(b, 1), mask], dim=1)  # True = ignore
        return self.norm(self.encoder(x, src_key_padding_mask=pad)[:, 0])


def make_batch(batch: int, particles: int, device, seed: int = 0) -> dict[str, torch.Tensor]:
    """Jets with a JetClass-like spread of multiplicities (30-100 % of the slots filled)."""
    g = torch.Generator().manual_seed(seed)
    counts = torch.randint(int(0.3 * particles), particles + 1, (batch,), generator=g)
    mask = torch.arange(particles)[None, :] < counts[:, None]
    x = torch.randn(batch, particles, 17, generator=g) * mask[..., None]
    return {"particles": x.to(device), "mask": mask.to(device), "jets": torch.randn(batch, 5, generator=g).to(device),
            "labels": torch.randint(0, 10, (batch,), generator=g).to(device)}


def jet_pool(n: int, particles: int, seed: int = 0) -> Features:
    """`n` jets whose multiplicities follow a gamma law with mean ~50 (clipped to the slots)."""
    g = torch.Generator().manual_seed(seed)
    counts = torch.distributions.Gamma(torch.tensor(6.0), torch.tensor(6.0 / 50)).sample((n,)).round().clamp(5, particles).long()
    mask = torch.arange(particles)[None, :] < counts[:, None]
    x = torch.randn(n, particles, 17, generator=g) * mask[..., None]
    return Features(x, mask, torch.randn(n, 5, generator=g), torch.randint(0, 10, (n,), generator=g),
                    np.zeros(n, np.float32), np.zeros(n, np.float32))


def bucket_speed(model, pool: Features, batch: int, buckets: int, steps: int, device) -> dict[str, float]:
    """Median training jets/s over `steps` steps each, random batches and `buckets`-step groups interleaved."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    rows, counts = torch.arange(len(pool)), pool.mask.sum(1)
    times: dict[int, list[float]] = {1: [], buckets: []}
    for step in range(steps + 1):
        for k in times:
            b = pool.batch(_batch_indices(rows, step, batch, seed=0, lengths=counts, buckets=k), device)
            _sync(device)
            t0 = time.perf_counter()
            _train_step(model, opt, b)
            _sync(device)
            if step:
                times[k].append(time.perf_counter() - t0)
    return {k: batch / statistics.median(v) for k, v in times.items()}


def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _train_step(model, opt, batch):
    loss = F.cross_entropy(model(batch), batch["labels"])
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()


def _infer_step(model, batch):
    with torch.inference_mode():
        model(batch)


def measure(models: dict, batch: dict, repeats: int, device, train: bool) -> dict[str, float]:
    """Median jets/s per model over `repeats` interleaved rounds (after one warm-up round)."""
    opts = {k: torch.optim.AdamW(m.parameters(), lr=1e-4) for k, m in models.items()}
    times: dict[str, list[float]] = {k: [] for k in models}
    for r in range(repeats + 1):
        for name, model in models.items():
            model.train(train)
            _sync(device)
            t0 = time.perf_counter()
            _train_step(model, opts[name], batch) if train else _infer_step(model, batch)
            _sync(device)
            if r:
                times[name].append(time.perf_counter() - t0)
    n = batch["particles"].shape[0]
    return {k: n / statistics.median(v) for k, v in times.items()}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profile", default="cpu")
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch", type=int, default=None, help="default: the profile's batch_size")
    p.add_argument("--infer-batch", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--bucket-steps", type=int, default=48, help="steps per mode in the buckets comparison")
    args = p.parse_args(argv)
    device = resolve_device(args.device)
    section = load_profile(args.profile).tagger
    cfg, train = section.model, section.train
    torch.manual_seed(0)
    models = {"ours": Tagger(cfg).to(device), "nn.TransformerEncoder": TorchEncoderTagger(cfg).to(device)}
    params = {k: sum(p.numel() for p in m.parameters()) for k, m in models.items()}
    rows = {"train": measure(models, make_batch(args.batch or train.batch_size, cfg.num_particles, device), args.repeats, device, True),
            "infer": measure(models, make_batch(args.infer_batch, cfg.num_particles, device, 1), args.repeats, device, False)}
    print(f"tagger throughput, profile={args.profile}: dim={cfg.dim} layers={cfg.num_layers} heads={cfg.num_heads} "
          f"particles={cfg.num_particles} device={device} threads={torch.get_num_threads()}")
    print(f"{'':8s} {'ours jets/s':>12s} {'torch jets/s':>13s} {'ratio':>6s}")
    for mode, r in rows.items():
        print(f"{mode:8s} {r['ours']:12.0f} {r['nn.TransformerEncoder']:13.0f} {r['ours'] / r['nn.TransformerEncoder']:6.2f}")
    print(f"parameters: ours {params['ours']:,}  nn.TransformerEncoder {params['nn.TransformerEncoder']:,}")
    k = train.length_buckets if train.length_buckets > 1 else 16
    batch = args.batch or train.batch_size
    pool = jet_pool(batch * k * 4, cfg.num_particles)
    speed = bucket_speed(models["ours"], pool, batch, k, args.bucket_steps, device)
    print(f"training, ours: random batches {speed[1]:.0f} jets/s, length_buckets={k} {speed[k]:.0f} jets/s, "
          f"ratio {speed[k] / speed[1]:.2f} (mean multiplicity {pool.mask.sum(1).float().mean():.0f} of {cfg.num_particles})")


if __name__ == "__main__":
    main()
