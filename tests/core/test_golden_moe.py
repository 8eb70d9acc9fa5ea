"""A mixture of experts served interactively: the count follows the experts a decode step reads.

Worked by hand from docs/sizing.md ("Mixtures of experts at decode"), the Mixtral-8x7B config
(tests/fixtures/models/mixtral-8x7b) and kb/devices/rtx-pro-6000-blackwell-max-q.yaml, never
copied from the engine's output.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gpu_advisor.core.consult import Consultation, Engine

MIXTRAL = str(Path(__file__).parents[1] / "fixtures" / "models" / "mixtral-8x7b")


def four_users_on_a_max_q(engine: Engine, model: str) -> Consultation:
    """Four users of the model at 20 tokens/s each and 4,096 tokens of context, on Max-Q cards."""
    return engine.consult(
        {
            "workload": "inference",
            "model": model,
            "concurrent_users": 4,
            "tokens_per_s_per_user": 20,
            "context_tokens": 4096,
            "candidates": "rtx-pro-6000-blackwell-max-q",
        }
    )


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
    c = four_users_on_a_max_q(engine, MIXTRAL)
    top = c.recommendations[0]
    attrs = c.devices[top.device]
    assert top.device == "rtx-pro-6000-blackwell-max-q"
    assert (top.count, attrs["tensor_parallel"], attrs["replicas"]) == (2, 2, 1)
    # 4 users on the group: 1,433.6 GB/s / 67.0150 GB = 21.39 tokens/s each.
    assert attrs["tokens_per_s_per_user"] == pytest.approx(21.39, abs=0.01)
    steps = c.arithmetic.counts[top.device].steps
    assert any("(1 - (1 - 2/8)^b)" in step for step in steps), steps
    # The single-stream bound reads per token what a step of one sequence reads: the dense part
    # and 2 of 8 experts, 3.211272 + 90.194313 / 4 = 25.759850 GB (25.76 to two decimals), on the
    # 2 cards that hold the model: 2 x 1,792 / 25.76 = 139.13 tokens/s (reading all 93.41 GB:
    # 3,584 / 93.41 = 38.4).
    assert attrs["decode_tokens_s"] == pytest.approx(3584 / 25.76, abs=0.05)
    assert attrs["decode_tokens_s"] == 139.1


def test_the_catalog_mixtral_is_served_as_its_files_are(engine: Engine) -> None:
    # kb/models.yaml's mixtral-8x7b names its experts (8 per layer in 32 layers of 3 x 4096 x
    # 14336, 2 per token): 45,097,156,608 routed of 46,702,792,704 weights. A consultation
    # sizes a catalog model on the answer model_params_b, the count to two decimals: 46.7B x
    # 2 B = 93.4 GB, of which the experts are the same share, 45,097,156,608 / 46,702,792,704 =
    # 1 - 1,605,636,096 / 46,702,792,704 = 1 - 0.03437987: dense 93.4 x 0.03437987 = 3.211080 GB,
    # experts 93.4 - 3.211080 = 90.188920 GB.
    # Max-Q as above (92.7713 GB for the engine, 1.402781 GB per GPU, 0.536871 GB KV a user):
    # - 1 card: 91.3685 < 93.4 GB of weights;
    # - 2 cards: memory (182.7370 - 93.4) / 0.536871 = 166 users; a step may read 71.68 GB:
    #   b = 4: 3.211080 + 90.188920 x 0.68359375 + 2.147484 = 3.211080 + 61.653679 + 2.147484 =
    #   67.012243 GB (fits); b = 5: 3.211080 + 90.188920 x 0.76269531 + 2.684355 = 3.211080 +
    #   68.786838 + 2.684355 = 74.682273 GB (does not): 4 users, one group of 2 cards.
    # Before the catalog named experts, every step read all 93.4 GB: a group of 4 cards.
    c = four_users_on_a_max_q(engine, "mixtral-8x7b")
    top = c.recommendations[0]
    attrs = c.devices[top.device]
    assert (top.count, attrs["tensor_parallel"], attrs["replicas"]) == (2, 2, 1)
    # 1,433.6 GB/s / 67.012243 GB = 21.393 tokens/s each.
    assert attrs["tokens_per_s_per_user"] == pytest.approx(21.39, abs=0.01)
    served = c.arithmetic.demand.served
    assert served.read_gb(1) == pytest.approx(3.211080 + 90.188920 / 4, abs=2e-6)  # 25.758310
    # Single stream: 25.758310 -> 25.76 GB, 3,584 / 25.76 = 139.13 tokens/s.
    assert attrs["decode_tokens_s"] == 139.1
    # Decode compute follows the 12,879,925,248 active weights (1,605,636,096 dense + 2/8 of
    # the experts), not all 46.7B.
    assert served.active_params_b == 12.879925248


def test_catalog_mixtral_training_flops_follow_its_active_weights(engine: Engine) -> None:
    # Full fine-tuning on the default 0.1B tokens x 3 epochs = 0.3B tokens: 6 x 12.879925248e9
    # active x 0.3e9 = 23.1838654464e18 = 2.31839e19 FLOPs (six figures); all 46.7B would be
    # 6 x 46.7e9 x 0.3e9 = 8.406e19.
    c = engine.consult(
        {
            "workload": "fine-tuning",
            "model": "mixtral-8x7b",
            "method": "full",
            "candidates": "h100-sxm",
        }
    )
    assert c.facts["training_flops"] == 2.31839e19
