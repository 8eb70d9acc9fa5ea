"""A catalog mixture of experts (kb/models.yaml) splits dense from experts as its files do.

Mixtral-8x7B, by hand from its config.json (tests/fixtures/models/mixtral-8x7b: hidden_size 4096,
intermediate_size 14336, num_hidden_layers 32, num_local_experts 8, num_experts_per_tok 2):

- one expert is a gated MLP, 3 x 4096 x 14336 = 176,160,768 weights; the routed experts are
  32 MoE layers x 8 x 176,160,768 = 45,097,156,608 weights;
- the whole model 46,702,792,704 weights (kb/models.yaml's params_b 46.702792704), so the dense
  rest is 46,702,792,704 - 45,097,156,608 = 1,605,636,096;
- a token passes through the dense part and 2 of the 8 experts of each layer: 1,605,636,096 +
  45,097,156,608 x 2/8 = 1,605,636,096 + 11,274,289,152 = 12,879,925,248 active (the model card's
  12.9B);
- in bf16: weights 93.405585408 GB, experts 90.194313216 GB, dense 3.211272192 GB.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gpu_advisor.arithmetic import sizing
from gpu_advisor.arithmetic.counting import demand_of
from gpu_advisor.arithmetic.demand import ServedModel
from gpu_advisor.arithmetic.model_memory import file_model
from gpu_advisor.errors import FileErrors
from gpu_advisor.knowledge.answers import Answers
from gpu_advisor.knowledge.catalogs import load_demand_defaults, load_model_catalog
from gpu_advisor.knowledge.model_files import read_model
from gpu_advisor.knowledge.models import ModelArch

MIXTRAL_FILES = Path(__file__).parents[1] / "fixtures" / "models" / "mixtral-8x7b"
ROUTED = 32 * 8 * 3 * 4096 * 14336  # 45,097,156,608
TOTAL = 46_702_792_704
ACTIVE = (TOTAL - ROUTED) + ROUTED * 2 // 8  # 1,605,636,096 + 11,274,289,152


def catalog_mixtral() -> ModelArch:
    return load_model_catalog()["mixtral-8x7b"]


def served(arch: ModelArch, precision: str = "bf16") -> ServedModel:
    """The model as one replica serves it, built as a consultation builds it: the sizing of one
    sequence, then the demand's split of its weights."""
    request = sizing.SizingRequest(
        workload="inference", params_b=arch.params_b, model=arch, precision=precision
    )
    answers = Answers({"workload": "inference", "concurrent_users": 1})
    demand = demand_of(answers, sizing.estimate(request), arch, load_demand_defaults())
    assert demand.served is not None
    return demand.served


def test_the_catalog_mixtral_names_its_experts_as_its_config_does() -> None:
    arch = catalog_mixtral()
    assert (arch.experts, arch.experts_per_token) == (8, 2)
    assert (arch.moe_layers, arch.expert_intermediate_size) == (32, 14336)
    assert arch.is_moe
    assert arch.routed_expert_params == ROUTED == 45_097_156_608
    assert round(arch.params_b * 1e9) == TOTAL
    assert ACTIVE == 12_879_925_248
    # Active, not all 46.7B: the FLOPs of a token (decode compute, training FLOPs).
    assert arch.active_params_b == ACTIVE / 1e9
    assert arch.active_params_b == file_model(read_model(MIXTRAL_FILES)).active_params_b


def test_dense_catalog_models_name_no_experts_and_are_active_whole() -> None:
    for name, arch in load_model_catalog().items():
        if name == "mixtral-8x7b":
            continue
        assert not arch.is_moe and arch.routed_expert_params == 0, name
        assert arch.active_params_b == arch.params_b, name


def test_catalog_and_files_give_mixtral_the_same_decode_reads() -> None:
    from_catalog = served(catalog_mixtral())
    from_files = served(file_model(read_model(MIXTRAL_FILES)))
    # Weights 46,702,792,704 x 2 B = 93.405585408 GB; experts 93.405585408 x 45,097,156,608 /
    # 46,702,792,704 = 90.194313216 GB; E = 8, k = 2.
    for model in (from_catalog, from_files):
        assert model.weights_gb == pytest.approx(93.405585408, rel=1e-12)
        assert model.expert_gb == pytest.approx(90.194313216, rel=1e-12)
        assert model.dense_gb == pytest.approx(3.211272192, rel=1e-9)
        assert (model.experts, model.experts_per_token) == (8, 2)
        assert model.active_params_b == 12.879925248
        # b = 1: 3.211272192 + 90.194313216 x 2/8 = 3.211272192 + 22.548578304 = 25.759850496.
        assert model.read_gb(1) == pytest.approx(25.759850496, rel=1e-12)
        # b = 16: 1 - 0.75^16 = 1 - 0.0100226 (0.75^2 = 0.5625, ^4 = 0.31640625,
        # ^8 = 0.1001129150, ^16 = 0.0100226) = 0.9899774; 3.211272192 + 90.194313216 x
        # 0.9899774 = 3.211272 + 89.290330 = 92.501602 GB.
        assert model.read_gb(16) == pytest.approx(92.501602, abs=1e-5)
    # The same split, not merely close: the same products of the same numbers.
    assert from_catalog.read_gb(1) == pytest.approx(from_files.read_gb(1), rel=1e-15)
    assert from_catalog.read_gb(16) == pytest.approx(from_files.read_gb(16), rel=1e-15)
    assert from_catalog.active_params_b == from_files.active_params_b


def test_the_catalog_split_follows_the_weights_sized() -> None:
    # In fp8 every catalog weight is 1 B (sizing.PRECISION_BYTES): 46.702792704 GB, of which the
    # experts are the same share, 45,097,156,608 / 46,702,792,704: 45.097156608 GB.
    model = served(catalog_mixtral(), "fp8")
    assert model.weights_gb == pytest.approx(46.702792704, rel=1e-12)
    assert model.expert_gb == pytest.approx(45.097156608, rel=1e-12)
    # b = 1: 1.605636096 + 45.097156608 / 4 = 1.605636096 + 11.274289152 = 12.879925248 GB.
    assert model.read_gb(1) == pytest.approx(12.879925248, rel=1e-12)


def test_a_dense_catalog_model_is_read_whole() -> None:
    model = served(load_model_catalog()["llama-3.1-8b"])
    # 8.03e9 x 2 B = 16.06 GB at every batch.
    assert not model.is_moe and model.expert_gb == 0
    assert model.read_gb(1) == model.read_gb(16) == pytest.approx(16.06)
    assert model.active_params_b == 8.03


def test_the_size_notes_say_the_catalog_mixtral_is_a_mixture() -> None:
    arch = catalog_mixtral()
    estimate = sizing.estimate(
        sizing.SizingRequest(workload="inference", params_b=arch.params_b, model=arch)
    )
    assert (
        "Mixture of experts: 8 experts in 32 layers, 2 chosen per token. All experts are "
        "resident in memory (46.7B weights); the FLOPs per token follow the 12.88B active ones."
    ) in estimate.assumptions


# ---------------------------------------------------------------------------------------------
# Bad expert fields in models.yaml: one located error each

MOE_ENTRY = """\
  - name: tiny-moe
    params_b: 1
    layers: 4
    hidden: 512
    attention_heads: 8
    kv_heads: 2
    head_dim: 64
    experts: 8
    experts_per_token: 2
    moe_layers: 4
    expert_intermediate_size: 1024
    source: test config.json
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "models.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_small_catalog_moe_loads(tmp_path: Path) -> None:
    arch = load_model_catalog(_write(tmp_path, "models:\n" + MOE_ENTRY))["tiny-moe"]
    # 4 layers x 8 experts x 3 x 512 x 1024 = 50,331,648 routed; idle 4 x 6 x 1,572,864 =
    # 37,748,736; active 1,000,000,000 - 37,748,736 = 962,251,264.
    assert arch.routed_expert_params == 50_331_648
    assert arch.active_params_b == 0.962251264


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            MOE_ENTRY.replace("experts_per_token: 2", "experts_per_token: 9"),
            r":10:24: experts_per_token 9 is more than the 8 experts of a MoE layer",
        ),
        (
            MOE_ENTRY.replace("moe_layers: 4", "moe_layers: 5"),
            r":11:17: moe_layers 5 is more than the model's 4 layers",
        ),
        (
            MOE_ENTRY.replace("experts: 8", "experts: 0"),
            r":9:14: experts: must be positive, got 0",
        ),
        (
            MOE_ENTRY.replace("expert_intermediate_size: 1024", "expert_intermediate_size: 1.5"),
            r":12:31: expert_intermediate_size: expected a whole number, got 1.5",
        ),
        (
            MOE_ENTRY.replace("    moe_layers: 4\n", ""),
            r":2:5: a mixture of experts names all of experts, experts_per_token, moe_layers "
            r"and expert_intermediate_size; missing: moe_layers",
        ),
        (
            # 4 x 8 x 3 x 512 x 100,000 = 4,915,200,000 routed weights > 1e9 in all.
            MOE_ENTRY.replace("expert_intermediate_size: 1024", "expert_intermediate_size: 100000"),
            r":12:31: the routed experts \(4 MoE layers x 8 experts x 3 x 512 hidden x 100000 = "
            r"4,915,200,000 weights\) leave nothing of params_b 1 \(1,000,000,000\)",
        ),
        (
            MOE_ENTRY + "    moe_layer: 4\n",
            r":14:5: unknown key 'moe_layer' \(did you mean 'moe_layers'\?\)",
        ),
    ],
)
def test_bad_expert_fields_point_at_the_line(tmp_path: Path, entry: str, message: str) -> None:
    path = _write(tmp_path, "models:\n" + entry)
    with pytest.raises(FileErrors, match=message) as info:
        load_model_catalog(path)
    assert str(info.value).startswith(str(path.resolve()))
