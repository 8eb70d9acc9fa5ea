"""`gpu-advisor deploy`: DeepSpeed and FSDP settings that DeepSpeed and Accelerate can read, each
explained, chosen by the same plan as `probe` (for probed, named or recommended hardware)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from gpu_advisor.cli import deploy as deploy_command
from gpu_advisor.hardware.deploy import Setting

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "probe"
HGX = [
    "--from",
    str(FIXTURES / "hgx-h100-8gpu.xml"),
    "--from",
    str(FIXTURES / "hgx-h100-8gpu-topo.txt"),
]
SEED = ["--model", "llama-3.1-70b", "--set", "workload=fine-tuning", "--set", "method=full"]
DIRS = [
    "--kb",
    str(ROOT / "kb"),
    "--rules",
    str(ROOT / "rules"),
    "--checks",
    str(ROOT / "rules" / "hardware"),
]

# Keys of DeepSpeed's JSON configuration (deepspeed.ai/docs/config-json) that deploy may write.
DEEPSPEED_KEYS = {
    "train_micro_batch_size_per_gpu",
    "gradient_accumulation_steps",
    "gradient_clipping",
    "steps_per_print",
    "wall_clock_breakdown",
    "bf16.enabled",
    "fp16.enabled",
    "fp16.loss_scale",
    "fp16.initial_scale_power",
    "fp16.loss_scale_window",
    "fp16.hysteresis",
    "fp16.min_loss_scale",
    "optimizer.type",
    "optimizer.params.lr",
    "optimizer.params.betas",
    "optimizer.params.eps",
    "optimizer.params.weight_decay",
    "zero_optimization.stage",
    "zero_optimization.offload_optimizer.device",
    "zero_optimization.offload_optimizer.pin_memory",
    "zero_optimization.offload_param.device",
    "zero_optimization.overlap_comm",
    "zero_optimization.contiguous_gradients",
    "zero_optimization.reduce_bucket_size",
    "zero_optimization.allgather_bucket_size",
    "zero_optimization.reduce_scatter",
    "zero_optimization.stage3_prefetch_bucket_size",
    "zero_optimization.stage3_param_persistence_threshold",
    "zero_optimization.stage3_max_live_parameters",
    "zero_optimization.stage3_max_reuse_distance",
    "zero_optimization.stage3_gather_16bit_weights_on_model_save",
    "zero_optimization.sub_group_size",
}
# Keys of an Accelerate config file with FSDP (accelerate launch --config_file).
ACCELERATE_KEYS = {
    "compute_environment",
    "distributed_type",
    "mixed_precision",
    "num_machines",
    "machine_rank",
    "num_processes",
    "main_training_function",
    "rdzv_backend",
    "same_network",
    "use_cpu",
    "fsdp_config.fsdp_sharding_strategy",
    "fsdp_config.fsdp_offload_params",
    "fsdp_config.fsdp_auto_wrap_policy",
    "fsdp_config.fsdp_backward_prefetch",
    "fsdp_config.fsdp_forward_prefetch",
    "fsdp_config.fsdp_state_dict_type",
    "fsdp_config.fsdp_sync_module_states",
    "fsdp_config.fsdp_cpu_ram_efficient_loading",
    "fsdp_config.fsdp_use_orig_params",
    "fsdp_config.fsdp_activation_checkpointing",
}


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = deploy_command.main([*argv, *DIRS])
    out, err = capsys.readouterr()
    return status, out, err


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, path + "."))
        else:
            flat[path] = value
    return flat


def deployment_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    status, out, err = run_cli(capsys, *argv, "--format", "json")
    assert status == 0, err
    return json.loads(out)


def explained(settings: list[dict[str, Any]], config: dict[str, Any]) -> None:
    """Every key of the file is explained, and every explanation matches the file."""
    flat = flatten(config)
    keys = [s["setting"] for s in settings if s["setting"] != "note"]
    assert set(keys) == set(flat)
    for setting in settings:
        if setting["setting"] != "note":
            assert flat[setting["setting"]] == setting["value"], setting
            assert setting["why"]


# ---------------------------------------------------------------------------------------------
# The seed's case: a 70B full fine-tune on an 8 x 80 GB box


def test_seed_case_deepspeed_file(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run_cli(
        capsys, *HGX, *SEED, "--host-ram-gb", "2048", "--format", "deepspeed"
    )
    assert status == 0, err
    ds = json.loads(out)
    assert ds["train_micro_batch_size_per_gpu"] >= 1
    assert ds["gradient_accumulation_steps"] == 1
    assert ds["zero_optimization"]["stage"] == 3
    assert ds["zero_optimization"]["offload_optimizer"]["device"] == "cpu"
    assert ds["zero_optimization"]["offload_param"]["device"] == "none"
    assert ds["bf16"]["enabled"] is True and ds["fp16"]["enabled"] is False
    assert ds["optimizer"]["type"] == "AdamW"
    assert ds["zero_optimization"]["reduce_bucket_size"] == 8192 * 8192  # llama-3.1-70b hidden
    assert set(flatten(ds)) <= DEEPSPEED_KEYS
    assert all(isinstance(v, (int, float, str, bool, list)) for v in flatten(ds).values())


def test_seed_case_every_setting_is_explained(capsys: pytest.CaptureFixture[str]) -> None:
    data = deployment_json(capsys, *HGX, *SEED, "--host-ram-gb", "2048", "--global-batch", "64")
    assert data["option"] == "zero-3-offload" and data["world_size"] == 8
    assert data["global_batch"] == 64
    assert data["micro_batch"] * data["gradient_accumulation_steps"] * 8 == 64
    assert data["per_gpu_gb"] <= data["plan"]["hardware"]["usable_gb"]
    explained(data["explanations"]["deepspeed"], data["deepspeed"])
    explained(data["explanations"]["fsdp"], data["fsdp"])
    why = {s["setting"]: s["why"] for s in data["explanations"]["deepspeed"]}
    assert "1,693.2 GB" in why["zero_optimization.offload_optimizer.device"]
    assert "2,048.0 GB" in why["zero_optimization.offload_optimizer.device"]
    assert "zero-3 157.0 GB" in why["zero_optimization.stage"]


def test_seed_case_fsdp_settings(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_cli(capsys, *HGX, *SEED, "--format", "fsdp")
    assert status == 0
    assert out.startswith("# compute_environment: ")  # every setting's reason as a comment
    config = yaml.safe_load(out)
    assert set(flatten(config)) <= ACCELERATE_KEYS
    assert config["distributed_type"] == "FSDP" and config["num_processes"] == 8
    assert config["mixed_precision"] == "bf16"
    fsdp = config["fsdp_config"]
    assert fsdp["fsdp_sharding_strategy"] == "FULL_SHARD" and fsdp["fsdp_offload_params"] is True
    assert fsdp["fsdp_activation_checkpointing"] is True


def test_text_output_shows_both_files_and_reasons(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_cli(capsys, *HGX, *SEED)
    assert status == 0
    assert out.startswith("Deployment on 8 x NVIDIA H100 80GB HBM3 (probed)")
    assert "DeepSpeed (ds_config.json):" in out and "Why each DeepSpeed setting:" in out
    assert 'zero_optimization.offload_optimizer.device = "cpu": ' in out
    assert "PyTorch FSDP through Accelerate" in out and "fsdp_sharding_strategy: FULL_SHARD" in out
    assert "(not measured here)" in out


# ---------------------------------------------------------------------------------------------
# Other rungs of the ladder


def test_single_gpu_without_sharding(capsys: pytest.CaptureFixture[str]) -> None:
    data = deployment_json(
        capsys,
        "--device",
        "h100-pcie",
        "--set",
        "workload=fine-tuning",
        "--set",
        "method=lora",
        "--model",
        "llama-3.1-8b",
    )
    assert data["world_size"] == 1 and data["option"] == "zero-0"
    ds = data["deepspeed"]
    assert ds["zero_optimization"] == {"stage": 0}
    assert data["fsdp"]["distributed_type"] == "NO" and "fsdp_config" not in data["fsdp"]
    # micro-batch: the largest power of two that fits, and one more would not
    assert data["micro_batch"] >= 2 and data["per_gpu_gb"] <= data["plan"]["hardware"]["usable_gb"]
    explained(data["explanations"]["deepspeed"], ds)


def test_zero_2_when_whole_weights_fit(capsys: pytest.CaptureFixture[str]) -> None:
    data = deployment_json(
        capsys,
        "--device",
        "h100-sxm",
        "--gpus",
        "8",
        "--set",
        "workload=fine-tuning",
        "--set",
        "method=full",
        "--set",
        "model_params_b=7",
    )
    assert data["option"] == "zero-2"
    ds = data["deepspeed"]["zero_optimization"]
    assert ds["stage"] == 2 and ds["offload_optimizer"]["device"] == "none"
    assert ds["reduce_scatter"] is True and "stage3_prefetch_bucket_size" not in ds
    assert data["fsdp"]["fsdp_config"]["fsdp_sharding_strategy"] == "SHARD_GRAD_OP"
    assert "optimizer" not in data["deepspeed"]


def test_batch_size_answer_is_the_micro_batch(capsys: pytest.CaptureFixture[str]) -> None:
    data = deployment_json(
        capsys,
        "--device",
        "h100-sxm",
        "--gpus",
        "8",
        "--set",
        "workload=fine-tuning",
        "--set",
        "method=full",
        "--set",
        "model_params_b=7",
        "--set",
        "batch_size=2",
        "--global-batch",
        "100",
    )
    assert data["micro_batch"] == 2 and data["gradient_accumulation_steps"] == 7
    assert any("becomes 112" in w for w in data["warnings"])
    why = {s["setting"]: s["why"] for s in data["explanations"]["deepspeed"]}
    assert why["train_micro_batch_size_per_gpu"].startswith("the batch_size you gave")


def test_fp16_on_cards_without_bf16(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    xml = (
        '<?xml version="1.0" ?>\n<nvidia_smi_log><driver_version>535.183.01</driver_version>'
        + "".join(
            f'<gpu id="00000000:{i + 1:02X}:00.0"><product_name>Tesla V100-SXM2-32GB</product_name>'
            "<product_architecture>Volta</product_architecture>"
            "<fb_memory_usage><total>32768 MiB</total></fb_memory_usage>"
            "<ecc_mode><current_ecc>Enabled</current_ecc><pending_ecc>Enabled</pending_ecc></ecc_mode>"
            "</gpu>"
            for i in range(4)
        )
        + "</nvidia_smi_log>\n"
    )
    path = tmp_path / "v100.xml"
    path.write_text(xml, encoding="utf-8")
    data = deployment_json(
        capsys,
        "--from",
        str(path),
        "--set",
        "workload=fine-tuning",
        "--set",
        "method=full",
        "--set",
        "model_params_b=7",
        "--host-ram-gb",
        "512",
    )
    assert data["precision"] == "fp16"
    ds = data["deepspeed"]
    assert ds["fp16"]["enabled"] is True and ds["bf16"]["enabled"] is False
    assert ds["fp16"]["loss_scale"] == 0
    assert data["fsdp"]["mixed_precision"] == "fp16"
    assert any("predate bf16" in w for w in data["warnings"])
    assert data["hardware"]["device"] is None  # an unknown model is planned on its probed memory


def test_forced_stage_that_does_not_fit_warns(capsys: pytest.CaptureFixture[str]) -> None:
    data = deployment_json(capsys, *HGX, *SEED, "--zero", "3", "--no-offload", "--micro-batch", "1")
    assert data["deepspeed"]["zero_optimization"]["offload_optimizer"]["device"] == "none"
    assert any("does not fit" in w for w in data["warnings"])
    why = {s["setting"]: s["why"] for s in data["explanations"]["deepspeed"]}
    assert why["zero_optimization.stage"].startswith("ZeRO-3 as asked")


def test_recommended_hardware_when_none_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    data = deployment_json(
        capsys,
        "--set",
        "workload=fine-tuning",
        "--set",
        "method=full",
        "--set",
        "model_params_b=70",
        # deploy plans one box (max_gpus 8): for a 70B full fine-tune that is an HGX system,
        # whose 10-14 kW only a datacenter supplies (a server room's rack: 8 kW, kb/systems.yaml)
        "--set",
        "site=datacenter",
    )
    assert data["hardware"]["origin"].startswith("recommended")
    assert data["plan"]["chosen"] == data["option"]
    assert data["per_gpu_gb"] <= data["plan"]["hardware"]["usable_gb"]


def test_probed_problems_become_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    data = deployment_json(
        capsys,
        "--from",
        str(FIXTURES / "degraded-link.xml"),
        "--set",
        "workload=fine-tuning",
        "--set",
        "method=lora",
        "--model",
        "llama-3.1-8b",
    )
    assert any(w.startswith("probe.link-width-degraded (GPU 1)") for w in data["warnings"])


# ---------------------------------------------------------------------------------------------
# Writing files, and refusing what cannot be deployed


def test_output_file_format_follows_the_suffix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ds_path, fsdp_path = tmp_path / "ds_config.json", tmp_path / "fsdp.yaml"
    status, out, _ = run_cli(capsys, *HGX, *SEED, "--host-ram-gb", "2048", "-o", str(ds_path))
    assert status == 0 and out.startswith(f"wrote DeepSpeed config to {ds_path}")
    assert json.loads(ds_path.read_text())["zero_optimization"]["stage"] == 3
    status, out, _ = run_cli(capsys, *HGX, *SEED, "-o", str(fsdp_path))
    assert status == 0 and yaml.safe_load(fsdp_path.read_text())["distributed_type"] == "FSDP"
    status, _, _ = run_cli(capsys, *HGX, *SEED, "--format", "json", "-o", str(ds_path))
    assert status == 0 and "explanations" in json.loads(ds_path.read_text())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds_config.json", "fsdp.yaml"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            [
                "--device",
                "rtx-a6000",
                "--gpus",
                "2",
                "--set",
                "workload=inference",
                "--model",
                "qwen2.5-32b",
            ],
            "deploy writes training configurations",
        ),
        ([*SEED, "--device", "h100-pcie", "--zero", "0", "--offload"], "--offload needs --zero"),
        (["--device", "h100-pcie"], "describe the job"),
        ([*SEED, "--gpus", "4"], "--gpus goes with --device"),
        ([*SEED, "--device", "h100"], "unknown device 'h100' (did you mean"),
        ([*SEED, "--device", "h100-pcie", "-o", "/nonexistent/dir/ds.json"], "does not exist"),
        (["--from", str(FIXTURES / "no-driver.txt"), *SEED], "could not talk to the NVIDIA driver"),
    ],
)
def test_refusals_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    status, out, err = run_cli(capsys, *argv)
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and message in err


def test_live_without_gpus_exits_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)
    status, out, err = run_cli(capsys, "--live", *SEED)
    assert status == 2 and out == "" and "nvidia-ml-py" in err


def test_nothing_fits_anywhere_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run_cli(
        capsys, "--device", "rtx-a5000", "--gpus", "1", *SEED, "--host-ram-gb", "64"
    )
    assert status == 2 and "nothing to deploy: Does not fit" in err


def test_register_on_a_parser() -> None:
    parser = argparse.ArgumentParser()
    deploy_command.register(parser.add_subparsers())
    args = parser.parse_args(["deploy", "--device", "h100-pcie", "-o", "x.yaml"])
    assert args.func is deploy_command.run and deploy_command.output_format(args) == "fsdp"
    with pytest.raises(SystemExit):
        parser.parse_args(["deploy", "--live", "--device", "h100-pcie"])


def test_setting_json() -> None:
    assert Setting("a.b", 1, "why").to_json() == {"setting": "a.b", "value": 1, "why": "why"}
