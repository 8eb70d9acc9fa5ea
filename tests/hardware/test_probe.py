"""`gpu-advisor probe`: saved nvidia-smi outputs and NVML parse into the right facts, the hardware
checks (rules/hardware/) find what is wrong, and a job is planned on the GPUs in hand."""

from __future__ import annotations

import io
import json
import sys
import types
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from gpu_advisor.arithmetic.sizing import estimate, gpus_needed, usable_memory_gb
from gpu_advisor.cli import probe as probe_command
from gpu_advisor.core.consult import Engine
from gpu_advisor.errors import FileErrors, UsageError
from gpu_advisor.hardware import probe
from gpu_advisor.hardware.planning import Hardware, hardware_from_machine, make_plan, resolve_job
from gpu_advisor.knowledge.kb import Knowledge
from gpu_advisor.knowledge.kb_schema import load_knowledge

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "probe"
HGX = [FIXTURES / "hgx-h100-8gpu.xml", FIXTURES / "hgx-h100-8gpu-topo.txt"]
WORKSTATION = [
    FIXTURES / "workstation-2x-pro6000.xml",
    FIXTURES / "workstation-2x-pro6000-topo.txt",
]
DEGRADED = [FIXTURES / "degraded-link.xml"]
ECC_OFF = [FIXTURES / "ecc-off.xml", FIXTURES / "ecc-off-topo.txt"]
MIXED = [FIXTURES / "mixed-throttled.xml", FIXTURES / "mixed-throttled-topo.txt"]


@pytest.fixture(scope="module")
def knowledge() -> Knowledge:
    return load_knowledge(ROOT / "kb")


@pytest.fixture(scope="module")
def rules(knowledge: Knowledge) -> probe.HardwareRules:
    return probe.load_hardware_rules(knowledge, ROOT / "rules" / "hardware")


def machine_of(
    paths: list[Path], knowledge: Knowledge, rules: probe.HardwareRules
) -> probe.Machine:
    machine = probe.read_files([str(p) for p in paths])
    probe.match_models(machine, knowledge, rules.names)
    return machine


def fired(findings: list[probe.Finding]) -> set[tuple[str, int | None]]:
    return {(f.check, f.gpu) for f in findings}


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = probe_command.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


# ---------------------------------------------------------------------------------------------
# Parsing saved outputs into facts


def test_hgx_server_parses_into_facts(knowledge: Knowledge, rules: probe.HardwareRules) -> None:
    machine = machine_of(HGX, knowledge, rules)
    assert machine.driver_version == "550.127.05" and machine.cuda_version == "12.4"
    assert len(machine.gpus) == 8
    gpu = machine.gpus[3]
    assert gpu.name == "NVIDIA H100 80GB HBM3" and gpu.kb_id == "h100-sxm"
    assert gpu.bus_id == "00000000:5D:00.0" and gpu.architecture == "Hopper"
    assert gpu.memory_mib == 81559 and gpu.memory_gb == pytest.approx(79.65)
    assert (gpu.ecc_current, gpu.ecc_pending) == (True, True)
    assert (
        gpu.pcie_gen_current,
        gpu.pcie_gen_max,
        gpu.pcie_gen_device_max,
        gpu.pcie_gen_host_max,
    ) == (5, 5, 5, 5)
    assert (gpu.pcie_width_current, gpu.pcie_width_max) == (16, 16)
    assert (
        gpu.power_limit_w == 700
        and gpu.default_power_limit_w == 700
        and gpu.max_power_limit_w == 700
    )
    assert gpu.throttle_reasons == ("gpu_idle",) and gpu.idle is True
    assert gpu.mig_enabled is False and gpu.remap_pending is False and gpu.remap_failure is False
    assert machine.topology is not None and machine.topology.gpus == 8
    assert set(machine.topology.links.values()) == {"NV18"} and len(machine.topology.links) == 28
    facts = probe.machine_facts(machine, knowledge, "tensor")
    assert (
        facts["nvlink_all"] is True and facts["nvlink_pairs"] == 28 and facts["worst_path"] is None
    )


def test_hgx_server_has_no_findings(knowledge: Knowledge, rules: probe.HardwareRules) -> None:
    machine = machine_of(HGX, knowledge, rules)
    assert probe.run_checks(machine, rules, knowledge) == []
    assert (
        probe.run_checks(machine, rules, knowledge, {"deployment": "production"}, "tensor", True)
        == []
    )


def test_two_pcie_workstation_cards(knowledge: Knowledge, rules: probe.HardwareRules) -> None:
    machine = machine_of(WORKSTATION, knowledge, rules)
    assert [g.kb_id for g in machine.gpus] == ["rtx-pro-6000-blackwell"] * 2
    assert machine.gpus[0].memory_mib == 97887 and machine.gpus[0].utilization_pct == 96
    assert machine.gpus[0].idle is False
    assert machine.topology is not None and machine.topology.link(1, 0) == "NODE"
    # Nothing planned yet: a note that the cards only have PCIe between them.
    assert fired(probe.run_checks(machine, rules, knowledge)) == {("probe.pcie-only", None)}
    # Tensor parallelism planned over them: serious.
    findings = probe.run_checks(machine, rules, knowledge, {}, "tensor", True)
    assert fired(findings) == {("probe.tp-over-pcie", None)}
    assert findings[0].severity == "serious"
    assert "fact.nvlink_any == false (fact.nvlink_any = false)" in findings[0].because
    # Data parallelism with sharding suits PCIe: nothing to say.
    assert probe.run_checks(machine, rules, knowledge, {}, "data", True) == []


def test_degraded_link(knowledge: Knowledge, rules: probe.HardwareRules) -> None:
    machine = machine_of(DEGRADED, knowledge, rules)
    good, bad = machine.gpus
    assert (good.pcie_gen_current, good.pcie_width_current) == (5, 16)
    assert (bad.pcie_gen_current, bad.pcie_gen_max, bad.pcie_width_current, bad.pcie_width_max) == (
        4,
        5,
        8,
        16,
    )
    assert bad.idle is False and bad.utilization_pct == 97
    findings = probe.run_checks(machine, rules, knowledge)
    assert fired(findings) == {
        ("probe.link-width-degraded", 1),
        ("probe.link-gen-degraded", 1),
        ("probe.no-topology", None),
    }
    assert [f.severity for f in findings] == ["serious", "serious", "info"]
    width = next(f for f in findings if f.check == "probe.link-width-degraded")
    assert "x8 of x16" in width.message
    assert width.because == (
        (
            "device.pcie_width_current < device.pcie_width_max "
            "(device.pcie_width_current = 8, device.pcie_width_max = 16)"
        ),
    )


def test_ecc_off_on_cards_that_have_it(knowledge: Knowledge, rules: probe.HardwareRules) -> None:
    machine = machine_of(ECC_OFF, knowledge, rules)
    first, second = machine.gpus
    # The R525 schema: clocks_throttle_reasons and power_readings/power_limit.
    assert first.power_limit_w == 300 and first.power_draw_w == pytest.approx(19.7)
    assert first.throttle_reasons == ("gpu_idle",) and first.reasons_known
    assert first.pcie_gen_device_max is None and first.pcie_gen_current == 1
    assert (first.ecc_current, first.ecc_pending) == (False, False)
    assert (second.ecc_current, second.ecc_pending) == (False, True)
    assert machine.topology is not None and machine.topology.nvlinks(0, 1) == 4
    findings = probe.run_checks(machine, rules, knowledge)
    assert fired(findings) == {
        ("probe.ecc-off", 0),
        ("probe.ecc-off", 1),
        ("probe.ecc-pending", 1),
        ("probe.link-gen-idle", 0),
        ("probe.link-gen-idle", 1),
    }
    production = probe.run_checks(machine, rules, knowledge, {"deployment": "production"})
    assert {("probe.ecc-off-critical", 0), ("probe.ecc-off-critical", 1)} <= fired(production)
    assert not any(f.check == "probe.ecc-off" for f in production)
    long_runs = probe.run_checks(
        machine, rules, knowledge, {"deployment": "research", "longest_run_hours": 72}
    )
    assert ("probe.ecc-off-critical", 0) in fired(long_runs)
    assert "72 hours" in next(f.message for f in long_runs if f.check == "probe.ecc-off-critical")


def test_mixed_box_throttled_and_unknown_model(
    knowledge: Knowledge, rules: probe.HardwareRules
) -> None:
    # The fixture's second card, an L40S, is in the knowledge base since the 2026-12 edition:
    # take it out so that it stays the unknown model this test is about.
    knowledge = replace(
        knowledge, devices={k: v for k, v in knowledge.devices.items() if k != "l40s"}
    )
    machine = machine_of(MIXED, knowledge, rules)
    geforce, l40s = machine.gpus
    assert geforce.kb_id == "rtx-5090" and geforce.ecc_current is None
    assert l40s.kb_id is None
    assert l40s.raw["product_name"] == "NVIDIA L40S" and l40s.raw["memory_total"] == "46068 MiB"
    assert l40s.raw["product_architecture"] == "Ada Lovelace"
    assert set(geforce.throttle_reasons) == {"sw_power_cap", "hw_slowdown", "hw_thermal_slowdown"}
    findings = probe.run_checks(machine, rules, knowledge)
    assert fired(findings) == {
        ("probe.thermal-throttle", 0),
        ("probe.power-throttle", 0),
        ("probe.power-limit-capped", 0),
        ("probe.slot-gen-below-card", 0),
        ("probe.unknown-model", 1),
        ("probe.mixed-models", None),
        ("probe.pcie-only", None),
    }
    mixed = next(f for f in findings if f.check == "probe.mixed-models")
    assert "1 x NVIDIA GeForce RTX 5090, 1 x NVIDIA L40S" in mixed.message
    # A pipeline across the two sockets crosses the CPU interconnect.
    planned = probe.run_checks(machine, rules, knowledge, {}, "pipeline", True)
    assert ("probe.cross-socket", None) in fired(planned)


@pytest.mark.parametrize("name", ["no-gpu.xml", "no-devices.txt", "no-driver.txt"])
def test_machine_without_gpus_is_one_clear_error(name: str) -> None:
    with pytest.raises(probe.ProbeUnavailable):
        probe.read_files([str(FIXTURES / name)])


@pytest.mark.parametrize("name", ["no-gpu.xml", "no-devices.txt", "no-driver.txt"])
def test_machine_without_gpus_exits_2(capsys: pytest.CaptureFixture[str], name: str) -> None:
    status, out, err = run_cli(capsys, "--from", str(FIXTURES / name))
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and "nothing to probe" in err


# ---------------------------------------------------------------------------------------------
# Model names


@pytest.mark.parametrize(
    ("name", "device"),
    [
        ("NVIDIA H100 PCIe", "h100-pcie"),
        ("NVIDIA H100 80GB HBM3", "h100-sxm"),
        ("NVIDIA GeForce RTX 5090", "rtx-5090"),
        ("NVIDIA RTX PRO 6000 Blackwell Workstation Edition", "rtx-pro-6000-blackwell"),
        ("NVIDIA RTX PRO 6000 Blackwell Max-Q Workstation Edition", "rtx-pro-6000-blackwell-max-q"),
        ("NVIDIA RTX PRO 6000 Blackwell Server Edition", "rtx-pro-6000-blackwell-server"),
        ("NVIDIA H200", "h200"),
        ("NVIDIA B200", "b200"),
        ("NVIDIA RTX A6000", "rtx-a6000"),
        ("NVIDIA RTX A5000", "rtx-a5000"),
        ("NVIDIA GB10", "dgx-spark"),
        ("nvidia  rtx   a6000", "rtx-a6000"),
        ("NVIDIA H100 NVL", "h100-nvl"),
        ("NVIDIA H200 NVL", None),
        ("NVIDIA L40S", "l40s"),
    ],
)
def test_model_names_match_knowledge_base(
    knowledge: Knowledge, rules: probe.HardwareRules, name: str, device: str | None
) -> None:
    machine = probe.Machine([probe.GPU(index=0, name=name)])
    probe.match_models(machine, knowledge, rules.names)
    assert machine.gpus[0].kb_id == device


def test_unified_memory_part_takes_memory_from_the_knowledge_base(
    knowledge: Knowledge, rules: probe.HardwareRules
) -> None:
    text = (
        '<?xml version="1.0" ?><nvidia_smi_log><driver_version>580.95.05</driver_version>'
        '<gpu id="0000000F:01:00.0"><product_name>NVIDIA GB10</product_name>'
        "<fb_memory_usage><total>[N/A]</total></fb_memory_usage>"
        "<ecc_mode><current_ecc>N/A</current_ecc><pending_ecc>N/A</pending_ecc></ecc_mode>"
        "</gpu></nvidia_smi_log>"
    )
    machine = probe.read_outputs([("spark.xml", text)])
    probe.match_models(machine, knowledge, rules.names)
    gpu = machine.gpus[0]
    assert gpu.memory_mib is None and gpu.kb_id == "dgx-spark"
    assert probe.stated_memory_gb(gpu, knowledge) == knowledge.devices["dgx-spark"].value(
        "memory_gb"
    )
    assert probe.gpu_facts(gpu, machine, knowledge)["ecc_supported"] is False


# ---------------------------------------------------------------------------------------------
# Safe XML and the topology matrix


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '<?xml version="1.0"?>\n<!DOCTYPE x [\n<!ENTITY a '
            '"aaaa">\n]>\n<nvidia_smi_log>&a;</nvidia_smi_log>',
            "internal subset",
        ),
        (
            (
                '<?xml version="1.0"?>\n<!DOCTYPE x SYSTEM "x.dtd" [<!ENTITY e SYSTEM '
                '"file:///etc/passwd">]>\n'
                "<nvidia_smi_log>&e;</nvidia_smi_log>"
            ),
            "internal subset",
        ),
        ('<?xml version="1.0"?>\n<nvidia_smi_log>\n<gpu>\n</nvidia_smi_log>\n', "not well-formed"),
    ],
)
def test_xml_with_entities_or_errors_is_refused(text: str, message: str) -> None:
    with pytest.raises(FileErrors) as caught:
        probe.read_outputs([("evil.xml", text)])
    error = caught.value.errors[0]
    assert (
        message in error.message and error.location.path == "evil.xml" and error.location.line >= 1
    )


def test_billion_laughs_is_refused() -> None:
    lol = "".join(
        f'<!ENTITY l{i} "&l{i - 1};&l{i - 1};&l{i - 1};&l{i - 1};">' for i in range(1, 10)
    )
    text = (
        f'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY l0 "lol">{lol}]>'
        "<nvidia_smi_log>&l9;</nvidia_smi_log>"
    )
    with pytest.raises(FileErrors, match="not accepted"):
        probe.parse_xml(text, "lol.xml")


def test_other_xml_is_not_an_nvidia_smi_log() -> None:
    with pytest.raises(FileErrors, match="expected <nvidia_smi_log>"):
        probe.read_outputs([("other.xml", "<html><body/></html>")])


def test_topology_with_spaces_and_legacy_sys_name() -> None:
    text = (
        "        GPU0    GPU1    GPU2    CPU Affinity\n"
        "GPU0     X      NV2     SOC     0-11\n"
        "GPU1    NV2      X      PHB     0-11\n"
        "GPU2    SOC     PHB      X      12-23\n"
    )
    topology = probe.parse_topology(text, "topo.txt")
    assert topology.link(0, 2) == "SYS" and topology.nvlinks(0, 1) == 2 and topology.peers(2) == 0


def test_topology_errors_point_at_the_line() -> None:
    text = "\tGPU0\tGPU1\tCPU Affinity\nGPU0\t X \tNVX\t0-7\nGPU1\tNV1\t X \t0-7\n"
    with pytest.raises(FileErrors) as caught:
        probe.parse_topology(text, "topo.txt")
    error = caught.value.errors[0]
    assert (error.location.line, error.location.column) == (2, 10) and "'NVX'" in error.message


def test_topology_of_another_machine_is_refused() -> None:
    with pytest.raises(FileErrors, match="the topology has 2 GPUs but"):
        probe.read_files([str(HGX[0]), str(WORKSTATION[1])])


def test_outputs_in_any_order_and_one_xml_only() -> None:
    machine = probe.read_files([str(HGX[1]), str(HGX[0])])
    assert machine.topology is not None and machine.origin == (str(HGX[0]), str(HGX[1]))
    with pytest.raises(UsageError, match="one nvidia-smi -q -x"):
        probe.read_files([str(HGX[0]), str(DEGRADED[0])])
    with pytest.raises(FileErrors, match="not an nvidia-smi"):
        probe.read_outputs([("notes.txt", "hello\n")])
    with pytest.raises(FileErrors, match="no such file"):
        probe.read_files([str(FIXTURES / "missing.xml")])


# ---------------------------------------------------------------------------------------------
# NVML (a stand-in module: tests run without GPUs and without nvidia-ml-py)


class FakeNVMLError(Exception):
    pass


class FakeNotSupported(FakeNVMLError):
    pass


FakeNVMLError.__name__ = "NVMLError"
FakeNotSupported.__name__ = "NVMLError_NotSupported"


def fake_nvml(gpus: int = 2, init_error: bool = False) -> types.ModuleType:
    """Two RTX A6000 joined by a 4-link NVLink bridge, as NVML would report them."""
    nvml = types.ModuleType("pynvml")
    bus = [f"00000000:{0x41 + 0x40 * i:02X}:00.0" for i in range(gpus)]
    state: dict[str, Any] = {"shutdown": False}

    def init() -> None:
        if init_error:
            raise FakeNVMLError("Driver Not Loaded")

    def not_supported(*_args: Any) -> Any:
        raise FakeNotSupported("Not Supported")

    def nvlink_state(handle: int, link: int) -> int:
        if link >= 4:
            raise FakeNotSupported("Not Supported")
        return 1

    values: dict[str, Any] = {
        "nvmlInit": init,
        "nvmlShutdown": lambda: state.update(shutdown=True),
        "nvmlDeviceGetCount": lambda: gpus,
        "nvmlDeviceGetHandleByIndex": lambda i: i,
        "nvmlSystemGetDriverVersion": lambda: "550.54.15",
        "nvmlSystemGetCudaDriverVersion_v2": lambda: 12040,
        "nvmlDeviceGetName": lambda h: b"NVIDIA RTX A6000",
        "nvmlDeviceGetPciInfo": lambda h: types.SimpleNamespace(busId=bus[h].encode()),
        "nvmlDeviceGetArchitecture": lambda h: 7,
        "nvmlDeviceGetMemoryInfo": lambda h: types.SimpleNamespace(total=49140 * 2**20),
        "nvmlDeviceGetEccMode": lambda h: [0, 0],
        "nvmlDeviceGetCurrPcieLinkGeneration": lambda h: 4,
        "nvmlDeviceGetMaxPcieLinkGeneration": lambda h: 4,
        "nvmlDeviceGetGpuMaxPcieLinkGeneration": lambda h: 4,
        "nvmlDeviceGetCurrPcieLinkWidth": lambda h: 16 if h == 0 else 8,
        "nvmlDeviceGetMaxPcieLinkWidth": lambda h: 16,
        "nvmlDeviceGetPerformanceState": lambda h: 2,
        "nvmlDeviceGetUtilizationRates": lambda h: types.SimpleNamespace(gpu=88, memory=40),
        "nvmlDeviceGetTemperature": lambda h, sensor: 71,
        "nvmlDeviceGetPowerUsage": lambda h: 286_500,
        "nvmlDeviceGetPowerManagementLimit": lambda h: 300_000,
        "nvmlDeviceGetPowerManagementDefaultLimit": lambda h: 300_000,
        "nvmlDeviceGetPowerManagementLimitConstraints": lambda h: (100_000, 300_000),
        "nvmlDeviceGetCurrentClocksEventReasons": lambda h: 0x4,
        "nvmlDeviceGetMigMode": not_supported,
        "nvmlDeviceGetRemappedRows": lambda h: (0, 0, 0, 0),
        "nvmlDeviceGetNvLinkState": nvlink_state,
        "nvmlDeviceGetNvLinkRemotePciInfo": lambda h, link: types.SimpleNamespace(busId=bus[1 - h]),
        "nvmlDeviceGetTopologyCommonAncestor": lambda a, b: 40,
        "NVMLError": FakeNVMLError,
        "NVML_TEMPERATURE_GPU": 0,
        "NVML_NVLINK_MAX_LINKS": 18,
        "state": state,
    }
    for name, value in values.items():
        setattr(nvml, name, value)
    return nvml


def test_live_probe_through_nvml(
    monkeypatch: pytest.MonkeyPatch, knowledge: Knowledge, rules: probe.HardwareRules
) -> None:
    nvml = fake_nvml()
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    machine = probe.probe_live()
    assert nvml.state["shutdown"] is True
    assert machine.origin == ("NVML",) and machine.driver_version == "550.54.15"
    assert machine.cuda_version == "12.4"
    gpu = machine.gpus[1]
    assert gpu.name == "NVIDIA RTX A6000" and gpu.bus_id == "00000000:81:00.0"
    assert gpu.memory_mib == 49140 and gpu.architecture == "Ampere"
    assert gpu.ecc_current is False and gpu.mig_enabled is None
    assert gpu.performance_state == "P2" and gpu.power_limit_w == 300 and gpu.power_draw_w == 286.5
    assert gpu.throttle_reasons == ("sw_power_cap",)
    assert machine.topology is not None and machine.topology.link(0, 1) == "NV4"
    probe.match_models(machine, knowledge, rules.names)
    found = fired(probe.run_checks(machine, rules, knowledge, {}, "tensor", True))
    assert ("probe.link-width-degraded", 1) in found and ("probe.ecc-off", 0) in found
    assert ("probe.power-throttle", 0) in found and ("probe.tp-over-pcie", None) not in found


def test_live_probe_without_nvidia_ml_py(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)
    with pytest.raises(probe.ProbeUnavailable, match="nvidia-ml-py"):
        probe.probe_live()
    status, out, err = run_cli(capsys)
    assert status == 2 and out == "" and err.count("\n") == 1 and "--from" in err


def test_live_probe_without_driver(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(init_error=True))
    status, out, err = run_cli(capsys)
    assert status == 2 and out == "" and "no NVIDIA driver" in err and "Driver Not Loaded" in err


def test_live_probe_with_no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = fake_nvml(gpus=0)
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    with pytest.raises(probe.ProbeUnavailable, match="reports no GPU"):
        probe.probe_live()
    assert nvml.state["shutdown"] is True


# ---------------------------------------------------------------------------------------------
# The checks as rules: every shipped check fires in a situation made for it


def _hgx(knowledge: Knowledge, rules: probe.HardwareRules) -> probe.Machine:
    return machine_of(HGX, knowledge, rules)


def _edit(machine: probe.Machine, index: int, **changes: Any) -> probe.Machine:
    machine.gpus[index] = replace(machine.gpus[index], **changes)
    return machine


SCENARIOS: dict[str, Any] = {
    "probe.unknown-model": lambda m: _edit(m, 2, kb_id=None),
    "probe.link-width-degraded": lambda m: _edit(m, 2, pcie_width_current=4),
    "probe.link-gen-degraded": lambda m: _edit(
        m, 2, pcie_gen_current=3, throttle_reasons=(), utilization_pct=90.0
    ),
    "probe.link-gen-idle": lambda m: _edit(m, 2, pcie_gen_current=1),
    "probe.slot-gen-below-card": lambda m: _edit(
        m, 2, pcie_gen_max=4, pcie_gen_current=4, pcie_gen_host_max=4
    ),
    "probe.slot-width-below-card": lambda m: _edit(m, 2, pcie_width_max=8, pcie_width_current=8),
    "probe.ecc-off": lambda m: _edit(m, 2, ecc_current=False, ecc_pending=False),
    "probe.ecc-off-critical": lambda m: _edit(m, 2, ecc_current=False, ecc_pending=False),
    "probe.ecc-pending": lambda m: _edit(m, 2, ecc_pending=False),
    "probe.row-remap-pending": lambda m: _edit(m, 2, remap_pending=True),
    "probe.thermal-throttle": lambda m: _edit(m, 2, throttle_reasons=("sw_thermal_slowdown",)),
    "probe.power-throttle": lambda m: _edit(m, 2, throttle_reasons=("hw_power_brake_slowdown",)),
    "probe.hw-slowdown": lambda m: _edit(m, 2, throttle_reasons=("hw_slowdown",)),
    "probe.power-limit-capped": lambda m: _edit(m, 2, power_limit_w=500.0),
    "probe.mig-enabled": lambda m: _edit(m, 2, mig_enabled=True),
    "probe.nvlink-bridge-missing": lambda m: _pcie_pair(m, "NVIDIA H100 PCIe", "h100-pcie", "PIX"),
    "probe.mixed-models": lambda m: _edit(m, 2, name="NVIDIA H200", kb_id="h200"),
    "probe.tp-over-pcie": lambda m: _pcie_pair(m, "NVIDIA RTX A6000", "rtx-a6000", "PXB"),
    "probe.tp-partial-nvlink": lambda m: _bridged_pairs(m),
    "probe.pcie-only": lambda m: _pcie_pair(m, "NVIDIA RTX A6000", "rtx-a6000", "PXB"),
    "probe.cross-socket": lambda m: _pcie_pair(m, "NVIDIA RTX A6000", "rtx-a6000", "SYS"),
    "probe.no-topology": lambda m: replace(m, topology=None),
}
ANSWERS: dict[str, tuple[dict[str, Any], str | None]] = {
    "probe.ecc-off-critical": ({"deployment": "production", "longest_run_hours": 8}, None),
    "probe.tp-over-pcie": ({}, "tensor"),
    "probe.tp-partial-nvlink": ({}, "tensor"),
    "probe.cross-socket": ({}, "pipeline"),
}


def _pcie_pair(machine: probe.Machine, name: str, kb_id: str, path: str) -> probe.Machine:
    gpus = [replace(g, name=name, kb_id=kb_id) for g in machine.gpus[:2]]
    return replace(machine, gpus=gpus, topology=probe.Topology(2, {(0, 1): path}))


def _bridged_pairs(machine: probe.Machine) -> probe.Machine:
    gpus = [replace(g, name="NVIDIA RTX A6000", kb_id="rtx-a6000") for g in machine.gpus[:4]]
    links = {
        (i, j): "NV4" if (i, j) in ((0, 1), (2, 3)) else "PHB"
        for i in range(4)
        for j in range(i + 1, 4)
    }
    return replace(machine, gpus=gpus, topology=probe.Topology(4, links))


def test_every_shipped_check_has_a_scenario(rules: probe.HardwareRules) -> None:
    assert {c.id for c in rules.checks} == set(SCENARIOS)


@pytest.mark.parametrize("check_id", sorted(SCENARIOS))
def test_each_check_fires_in_its_scenario(
    knowledge: Knowledge, rules: probe.HardwareRules, check_id: str
) -> None:
    machine = SCENARIOS[check_id](_hgx(knowledge, rules))
    answers, planned = ANSWERS.get(check_id, ({}, None))
    findings = probe.run_checks(machine, rules, knowledge, answers, planned, planned is not None)
    hits = [f for f in findings if f.check == check_id]
    assert hits, f"{check_id} did not fire: {fired(findings)}"
    for finding in hits:
        assert "not set" not in finding.message.replace("is not set", "")
        assert finding.because and finding.fix and finding.sources
    check = next(c for c in rules.checks if c.id == check_id)
    if check.scope == "gpu":
        assert all(f.gpu is not None for f in hits)


# ---------------------------------------------------------------------------------------------
# Loading the hardware rules


def write_rules(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "hardware"
    folder.mkdir()
    (folder / "checks.yaml").write_text(text, encoding="utf-8")
    return folder


def test_broken_check_file_reports_every_problem(tmp_path: Path, knowledge: Knowledge) -> None:
    folder = write_rules(
        tmp_path,
        """\
checks:
  - id: bad.one
    scope: machine
    description: d
    when: device.pcie_width_current < 16
    severity: serious
    finding: f
    fix: x
  - id: bad.two
    scope: gpu
    description: d
    when: device.ecc_enabeld == false
    severity: caution
    finding: "GPU {device.indx}"
    fix: x
    sources: [nvidia-smi-manual]
  - id: bad.two
    scope: gpu
    description: d
    when: fact.gpu_count == many
    severity: grave
    finding: f
    fix: x
models:
  - device: h100-pcei
    names: [NVIDIA H100 PCIe]
""",
    )
    with pytest.raises(FileErrors) as caught:
        probe.load_hardware_rules(knowledge, folder)
    messages = [str(e) for e in caught.value.errors]
    text = "\n".join(messages)
    assert "a machine check has no device" in text
    assert "unknown name device.ecc_enabeld (did you mean 'ecc_enabled'?)" in text
    assert "unknown name device.indx (did you mean 'index'?)" in text
    assert "unknown source 'nvidia-smi-manual'" in text
    assert "severity" in text  # 'grave' is not a severity
    assert all(":" in m.split(" ")[0] for m in messages)  # path:line:col on every line


def test_type_errors_and_duplicates(tmp_path: Path, knowledge: Knowledge) -> None:
    folder = write_rules(
        tmp_path,
        """\
checks:
  - id: dup
    scope: machine
    description: d
    when: fact.gpu_count == many
    severity: info
    finding: f
    fix: x
  - id: dup
    scope: machine
    description: d
    when: fact.planned_parallelism == tensr
    severity: info
    finding: "{fact}"
    fix: x
models:
  - device: h100-pcei
    names: [NVIDIA H100 PCIe]
""",
    )
    with pytest.raises(FileErrors) as caught:
        probe.load_hardware_rules(knowledge, folder)
    text = str(caught.value)
    assert "fact.gpu_count is a number, not string 'many'" in text
    assert "'tensr' is not one of none, data, tensor, pipeline (did you mean 'tensor'?)" in text
    assert "duplicate check id 'dup'" in text
    assert "placeholder {fact}" in text
    assert "unknown device 'h100-pcei' (did you mean 'h100-pcie'?)" in text
    assert "checks.yaml:5:11" in text  # the condition's own position


def test_missing_rules_folder(knowledge: Knowledge, tmp_path: Path) -> None:
    with pytest.raises(FileErrors, match="hardware rules folder not found"):
        probe.load_hardware_rules(knowledge, tmp_path / "nowhere")


# ---------------------------------------------------------------------------------------------
# The command


def test_probe_text_report(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run_cli(capsys, "--from", str(DEGRADED[0]))
    assert status == 0 and err == ""
    assert "GPU 1  00000000:65:00.0  NVIDIA H100 PCIe  [h100-pcie]" in out
    assert "PCIe Gen4 x8 (max Gen5 x16)" in out
    assert "[serious] probe.link-width-degraded (GPU 1)" in out
    assert "Topology: not read" in out


def test_probe_text_shows_raw_facts_of_unknown_models(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import shutil

    kb = tmp_path / "kb"  # the shipped knowledge base without the L40S, so that it is unknown
    shutil.copytree(ROOT / "kb", kb)
    (kb / "devices" / "l40s.yaml").unlink()
    status, out, _ = run_cli(
        capsys, "--kb", str(kb), *[a for p in MIXED for a in ("--from", str(p))]
    )
    assert status == 0
    assert "[unknown model]" in out and "raw facts: product_name=NVIDIA L40S" in out
    assert "GPU0-GPU1: SYS" in out


def test_probe_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_cli(
        capsys, *[a for p in ECC_OFF for a in ("--from", str(p))], "--format", "json"
    )
    data = json.loads(out)
    assert status == 0 and set(data) == {"machine", "checks_run", "findings", "summary", "plan"}
    assert data["plan"] is None and data["summary"]["caution"] == 3
    gpu = data["machine"]["gpus"][1]
    assert gpu["device"] == "rtx-a6000" and gpu["ecc"] == {"current": False, "pending": True}
    assert data["machine"]["topology"]["links"] == [{"a": 0, "b": 1, "path": "NV4"}]
    assert {f["check"] for f in data["findings"]} >= {"probe.ecc-off", "probe.ecc-pending"}


def test_fail_on_for_scripts(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(capsys, "--from", str(DEGRADED[0]), "--fail-on", "serious")[0] == 1
    assert (
        run_cli(capsys, *[a for p in HGX for a in ("--from", str(p))], "--fail-on", "info")[0] == 0
    )


def test_probe_reads_standard_input(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(DEGRADED[0].read_text(encoding="utf-8")))
    status, out, _ = run_cli(capsys, "--from", "-")
    assert status == 0 and "Read from: <stdin>" in out


def test_commands_import_light() -> None:
    import subprocess

    code = (
        "import sys, gpu_advisor.cli.probe, gpu_advisor.cli.deploy; "
        "print(sorted(m for m in ('pynvml', 'pydantic', 'yaml', 'durable') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_register_on_a_parser() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    probe_command.register(parser.add_subparsers())
    args = parser.parse_args(
        ["probe", "--from", "a.xml", "--from", "b.txt", "--set", "method=full"]
    )
    assert args.from_files == ["a.xml", "b.txt"] and args.func is probe_command.run


# ---------------------------------------------------------------------------------------------
# Planning a job on the GPUs in hand


@pytest.fixture(scope="module")
def engine(knowledge: Knowledge) -> Engine:
    return Engine.load(ROOT / "kb", ROOT / "rules")


def plan_on(
    paths: list[Path],
    raw: dict[str, Any],
    knowledge: Knowledge,
    rules: probe.HardwareRules,
    engine: Engine,
    model: str | None = None,
    host_ram_gb: float | None = None,
) -> Any:
    machine = machine_of(paths, knowledge, rules)
    job = resolve_job(engine, raw, model, len(machine.gpus))
    return make_plan(hardware_from_machine(machine, knowledge, host_ram_gb), job, knowledge, engine)


SEED_JOB = {"workload": "fine-tuning", "method": "full", "parallelism": "tensor"}


def test_seed_70b_on_80gb_cards_gets_a_fitting_plan(
    knowledge: Knowledge, rules: probe.HardwareRules, engine: Engine
) -> None:
    """The seed's story: a 70B full fine-tune runs out of memory on 80 GB cards."""
    plan = plan_on(HGX, SEED_JOB, knowledge, rules, engine, model="llama-3.1-70b", host_ram_gb=2048)
    planned = next(o for o in plan.options if o.planned)
    assert planned.key == "zero-3" and not planned.fits  # ZeRO-3 alone: ~157 GB per GPU
    chosen = plan.chosen
    assert chosen is not None and chosen.key == "zero-3-offload" and chosen.fits
    assert chosen.per_gpu_gb is not None and chosen.per_gpu_gb <= usable_memory_gb(79.65)
    assert chosen.host_ram_gb == pytest.approx(70.55e9 * 16 * 1.5 / 1e9)
    assert chosen.host_ok is True
    assert plan.verdict.startswith("Fits 8 x NVIDIA H100 80GB HBM3 with ZeRO-3")
    assert "1,693.2 GB of host RAM" in plan.verdict
    # The same arithmetic as the recommendations: the option is sizing's estimate.
    assert chosen.request is not None
    assert chosen.per_gpu_gb == estimate(chosen.request).per_gpu_gb
    assert chosen.request.gpus == 8 and chosen.request.zero_stage == 3 and chosen.request.offload


def test_seed_case_without_enough_host_ram_needs_a_purchase(
    knowledge: Knowledge, rules: probe.HardwareRules, engine: Engine
) -> None:
    plan = plan_on(HGX, SEED_JOB, knowledge, rules, engine, model="llama-3.1-70b", host_ram_gb=1024)
    assert plan.chosen is None and plan.verdict.startswith("Does not fit")
    offload = next(o for o in plan.options if o.key == "zero-3-offload")
    assert offload.host_ok is False and not offload.fits
    purchases = [o for o in plan.options if o.kind == "purchase"]
    assert purchases and all(o.fits for o in purchases)
    costs = [o.cost_usd for o in purchases]
    assert costs == sorted(costs)
    more = next(o for o in purchases if o.key == "buy-more")
    assert more.device == "h100-sxm" and more.buy == more.gpus - 8
    # gpus_needed on the probed capacity agrees with the purchase.
    assert more.request is not None
    assert gpus_needed(replace(more.request, gpus=1), 79.65, max_gpus=64) == more.gpus
    assert any(o.kind == "change-job" and o.key == "change-lora" and o.fits for o in plan.options)
    assert "Smallest purchase that does" in plan.verdict


def test_two_h100_pcie_cards_do_not_hold_a_70b_full_fine_tune(
    knowledge: Knowledge, rules: probe.HardwareRules, engine: Engine
) -> None:
    plan = plan_on(DEGRADED, {**SEED_JOB, "model_params_b": 70}, knowledge, rules, engine)
    assert plan.chosen is None
    purchases = [o for o in plan.options if o.kind == "purchase"]
    # The smallest purchase: one more card, with the optimizer offloaded (host RAM not measured).
    assert purchases[0].key == "buy-more-offload" and purchases[0].buy == 1
    assert purchases[0].cost_usd == 25000 and purchases[0].host_ok is None
    assert "Smallest purchase that does: buy 1 more H100 PCIe" in plan.verdict
    more = next(o for o in purchases if o.key == "buy-more")
    assert more.device == "h100-pcie" and not more.offload and more.cost_usd == more.buy * 25000
    # Where the host RAM is known to be too small, offloading purchases are not offered.
    small = plan_on(
        DEGRADED, {**SEED_JOB, "model_params_b": 70}, knowledge, rules, engine, host_ram_gb=512
    )
    assert not any(o.key == "buy-more-offload" for o in small.options)


def test_plan_fits_as_planned(
    knowledge: Knowledge, rules: probe.HardwareRules, engine: Engine
) -> None:
    plan = plan_on(
        WORKSTATION,
        {"workload": "fine-tuning", "method": "lora", "parallelism": "data"},
        knowledge,
        rules,
        engine,
        model="llama-3.1-8b",
    )
    assert plan.fits_as_planned and plan.chosen is not None and plan.chosen.key == "zero-0"
    assert plan.verdict.startswith("Fits as planned")
    assert not any(o.kind in ("purchase", "change-job") for o in plan.options)


def test_inference_plan_is_tensor_parallel(
    knowledge: Knowledge, rules: probe.HardwareRules, engine: Engine
) -> None:
    plan = plan_on(
        ECC_OFF, {"workload": "inference"}, knowledge, rules, engine, model="qwen2.5-32b"
    )
    keys = [(o.key, o.fits) for o in plan.options if o.kind == "in-hand"]
    assert keys == [("tp-1", False), ("tp-2", True)]
    assert plan.chosen is not None and plan.chosen.key == "tp-2"


def test_mixed_box_is_planned_on_its_smallest_card(
    knowledge: Knowledge, rules: probe.HardwareRules, engine: Engine
) -> None:
    plan = plan_on(MIXED, {"workload": "inference", "model_params_b": 13}, knowledge, rules, engine)
    assert plan.hardware.mixed and plan.hardware.memory_gb == pytest.approx(31.84)
    assert any("smallest" in note for note in plan.notes)


def test_plan_needs_the_model_size(
    knowledge: Knowledge, rules: probe.HardwareRules, engine: Engine
) -> None:
    with pytest.raises(UsageError, match="model_params_b"):
        plan_on(HGX, {"workload": "fine-tuning"}, knowledge, rules, engine)
    with pytest.raises(UsageError, match="exclusive"):
        plan_on(HGX, {"model_params_b": 70}, knowledge, rules, engine, model="llama-3.1-70b")
    with pytest.raises(UsageError, match="no memory model"):
        plan_on(HGX, {"workload": "scientific", "model_params_b": 7}, knowledge, rules, engine)
    with pytest.raises(UsageError, match="unknown answer"):
        plan_on(HGX, {"model_params_b": 7, "worklod": "inference"}, knowledge, rules, engine)


def test_probe_with_a_job_plans_it(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_cli(
        capsys,
        *[a for p in HGX for a in ("--from", str(p))],
        "--set",
        "workload=fine-tuning",
        "--set",
        "method=full",
        "--set",
        "model_params_b=70",
        "--host-ram-gb",
        "2048",
        "--format",
        "json",
    )
    data = json.loads(out)
    assert status == 0 and data["plan"]["chosen"] == "zero-3-offload"
    assert data["plan"]["fits_in_hand"] is True
    option = next(o for o in data["plan"]["options"] if o["key"] == "zero-3-offload")
    assert option["host_ram_ok"] is True and option["per_gpu_gb"] < option["usable_gb"]


def test_probe_plan_text_and_answers_feed_the_checks(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_cli(
        capsys,
        *[a for p in WORKSTATION for a in ("--from", str(p))],
        "--model",
        "llama-3.1-70b",
        "--set",
        "workload=fine-tuning",
        "--set",
        "method=full",
        "--set",
        "parallelism=tensor",
    )
    assert status == 0
    assert "[serious] probe.tp-over-pcie (machine)" in out
    assert (
        "Verdict:" in out and "On the cards in hand:" in out and "Purchases, cheapest first:" in out
    )
    assert "host RAM was not measured" in out


def test_hardware_from_plan_is_frozen() -> None:
    hardware = Hardware(2, 48.0, "2 x card", None, "probed")
    assert hardware.usable_gb == pytest.approx(usable_memory_gb(48.0))
    with pytest.raises(AttributeError):
        hardware.count = 3  # type: ignore[misc]


def test_docs_name_every_check_and_every_fact(rules: probe.HardwareRules) -> None:
    text = (ROOT / "docs" / "probe.md").read_text(encoding="utf-8")
    missing = [c.id for c in rules.checks if c.id not in text]
    missing += [
        name for vocabulary in probe.VOCABULARY.values() for name in vocabulary if name not in text
    ]
    assert missing == []
