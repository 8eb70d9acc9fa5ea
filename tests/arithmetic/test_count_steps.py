"""A count's steps are written when first read (the lever search reads none of thousands), and
read like the tuple of lines they were before."""

from __future__ import annotations

import pickle

from gpu_advisor.arithmetic.demand import (
    Count,
    Hardware,
    Interactive,
    ServedModel,
    Steps,
    interactive_count,
)


def test_steps_are_written_once_and_only_when_read() -> None:
    written: list[int] = []

    def write() -> list[str]:
        written.append(1)
        return ["a = 1", "b = 2"]

    steps = Steps(write)
    assert written == []
    assert list(steps) == ["a = 1", "b = 2"] and steps[1] == "b = 2" and len(steps) == 2
    assert steps == ("a = 1", "b = 2") and steps == Steps(lambda: ["a = 1", "b = 2"])
    assert written == [1]
    copy = pickle.loads(pickle.dumps(Count(gpus=1, set_by="minimum", steps=steps)))
    assert copy.steps == ("a = 1", "b = 2")


def test_a_count_shows_its_sum_when_read() -> None:
    # 0.5 MB/token of KV cache x 4,096 tokens = 2.048 GB per user (shown 2.0), 8.192 GB for 4
    # (shown 8.2). One card of 76 GB usable, 1 GB overhead, 8 GB of weights: (76 - 1 - 8) /
    # 2.048 = 32.7, so its memory holds 32 users.
    hw = Hardware(
        usable_memory_gb=76.0,
        bandwidth_gbs=3350.0,
        dense_tflops=989.0,
        tensor_parallel_degrees=(1,),
        mbu=0.8,
        mbu_tensor_parallel=0.7,
    )
    model = ServedModel(
        weights_gb=8.0, kv_gb_per_token=0.5e-3, active_params_b=4.0, overhead_gb_per_gpu=1.0
    )
    count = interactive_count(hw, model, Interactive(4, 4096, 10.0))
    assert count.gpus == 1
    assert count.steps[0] == (
        "KV cache per user = 0.5000 MB/token x 4,096 tokens = 2.0 GB; for 4 users 8.2 GB"
    )
    assert "memory holds 32 users" in count.steps[1]
