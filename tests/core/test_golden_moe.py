"""A mixture of experts served interactively: the count follows the experts a decode step reads.

Worked by hand from docs/sizing.md ("Mixtures of experts at decode"), the Mixtral-8x7B config
(tests/fixtures/models/mixtral-8x7b) and kb/devices/rtx-pro-6000-blackwell-max-q.yaml, never
copied from the engine's output.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gpu_advisor.core.consult import Engine

MIXTRAL = str(Path(__file__).parents[1] / "fixtures" / "models" / "mixtral-8x7b")


def test_four_mixtral_users_at_20_tokens_per_s_take_two_max_q_cards(engine: Engine) -> None:
    # Mixtral-8x7B in bf16: 46,702,792,704 x 2 B = 93.405585 GB, of which the routed experts are
    # 32 layers x 8 experts x 3 x 4096 x 14336 = 45,097,156,608 x 2 B = 90.194313 GB and the
    # dense rest 3.211272 GB; E = 8, k = 2. KV cache 2 x 32 x 8 x 128 x 2 B = 131,072 B a token,
    # x 4,096 = 0.536871 GB a user.
    # RTX PRO 6000 Max-Q: 96 GiB x 0.9 = 92.7713 GB for the serving engine, 1,792 GB/s (60% on one
    # card, 40% in a PCIe group), 439 TFLOPS dense bf16 (878 sparse / 2); per GPU the CUDA context
    # 1 GB + activations 4,096 x 4,096 x 24 B + 32,000 x 4 B = 1.402781 GB.
    # 20 tokens/s a user: a step may take 0.05 s.
    # - 1 card: 92.7713 - 1.4028 = 91.37 GB < 93.41 GB of weights.
    # - 2 cards: memory (2 x 91.3685 - 93.4056) / 0.536871 = 166 users; a step may read
    #   0.05 x 2 x 1,792 x 0.4 = 71.68 GB: b = 4 reads 3.211272 + 90.194313 x (1 - 0.75^4) +
    #   4 x 0.536871 = 3.211272 + 61.656269 + 2.147484 = 67.0150 GB (fits), b = 5 reads
    #   3.211272 + 90.194313 x 0.7626953 + 5 x 0.536871 = 74.686 GB (does not): 4 users.
    #   Compute: 0.05 x 2 x 439e12 x 0.5 / (2 x 12.88e9 active) = 852 users, never binds.
    # So one group of 2 serves the 4 users: 2 cards. Before, every step read all 93.41 GB of
    # experts: 2 cards allowed (71.68 - 93.41) / 0.537 < 0 users, and the count was a group of
    # 4 (0.05 x 4 x 1,792 x 0.4 = 143.36 GB: (143.36 - 93.41) / 0.537 = 93 users) = 4 cards.
    c = engine.consult(
        {
            "workload": "inference",
            "model": MIXTRAL,
            "concurrent_users": 4,
            "tokens_per_s_per_user": 20,
            "context_tokens": 4096,
            "candidates": "rtx-pro-6000-blackwell-max-q",
        }
    )
    top = c.recommendations[0]
    attrs = c.devices[top.device]
    assert top.device == "rtx-pro-6000-blackwell-max-q"
    assert (top.count, attrs["tensor_parallel"], attrs["replicas"]) == (2, 2, 1)
    # 4 users on the group: 1,433.6 GB/s / 67.0150 GB = 21.39 tokens/s each.
    assert attrs["tokens_per_s_per_user"] == pytest.approx(21.39, abs=0.01)
    steps = c.arithmetic.counts[top.device].steps
    assert any("(1 - (1 - 2/8)^b)" in step for step in steps), steps
