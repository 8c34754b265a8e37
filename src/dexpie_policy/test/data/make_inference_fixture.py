"""Writes inference_fixture/: two small policy checkpoints (indicator-conditioned and BC) and
the chunks PolicyRunner.predict_chunk returned for them, as test_inference_fixture.py reads
them. It was run once at commit e3793f1, with the sampling loop from before the inference
rewrite (kept as dexpie_policy.flow.reference.reference_sample); running it again would
overwrite those stored chunks with the current code's.

    .venv/bin/python src/dexpie_policy/test/data/make_inference_fixture.py
"""
from pathlib import Path
import sys

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from policy_helpers import make_episodes, make_spec  # noqa: E402

from dexpie_policy.checkpoint import save_policy  # noqa: E402
from dexpie_policy.chunk_dataset import ChunkDataset  # noqa: E402
from dexpie_policy.flow import FlowMatchingPolicy  # noqa: E402
from dexpie_policy.runner import PolicyRunner  # noqa: E402

OUT = Path(__file__).resolve().parent / "inference_fixture"
SMALL = dict(hidden_size=32, num_layers=2, time_embedding_dim=16, optimality_embedding_dim=16,
             num_inference_steps=5, max_delay_steps=3)
# (name, optimality, cfg_scale, prefix rows, generator seed); "default" = the policy default.
CASES = {
    "indicator": [("cfg15_prefix", "default", 1.5, 3, 1), ("cfg15_noprefix", "default", 1.5, 0, 2),
                  ("cfg1_prefix", 1.0, 1.0, 2, 3), ("null_prefix", None, 1.5, 1, 4),
                  ("s03_cfg2", 0.3, 2.0, 3, 5)],
    "bc": [("prefix", "default", 1.5, 3, 6), ("noprefix", "default", 1.0, 0, 7)],
}


def main():
    torch.set_num_threads(1)
    spec = make_spec()
    dataset = ChunkDataset(make_episodes(count=2, steps=12), spec, horizon=8)
    q, obj = dataset.state[3], dataset.object_state[3]
    prefix = dataset.state[4:7] + 0.01
    arrays = {"q": q, "object": obj, "prefix": prefix}
    for name, cases in CASES.items():
        torch.manual_seed({"indicator": 0, "bc": 1}[name])
        model = FlowMatchingPolicy(dataset.policy_config(
            **SMALL, optimality_conditioning=name == "indicator"))
        directory = save_policy(OUT / name, model, dataset.stats, spec)
        runner = PolicyRunner.from_pretrained(directory)
        for case, optimality, cfg_scale, rows, seed in cases:
            kwargs = {} if optimality == "default" else {"optimality": optimality}
            arrays[f"{name}/{case}"] = runner.predict_chunk(
                q, obj, prefix_targets=prefix[:rows], cfg_scale=cfg_scale,
                generator=torch.Generator().manual_seed(seed), **kwargs)
    np.savez(OUT / "chunks.npz", **arrays)


if __name__ == "__main__":
    main()
