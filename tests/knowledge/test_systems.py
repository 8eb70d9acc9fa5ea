"""The systems catalog (kb/systems.yaml): hosts, networks and site limits, and its loader's errors.

Expected values are worked out from the figures the file states, not read back from the loader.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gpu_advisor.errors import FileErrors
from gpu_advisor.knowledge.kb import shipped_kb_dir
from gpu_advisor.knowledge.systems import SITES, load_systems, systems_path

from ..conftest import MINI_KB

SHIPPED = shipped_kb_dir() / "systems.yaml"


def _broken(tmp_path: Path, old: str, new: str) -> tuple[Path, str]:
    """A knowledge folder whose systems.yaml has `old` replaced by `new` (sources copied)."""
    text = SHIPPED.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    text = text.replace(old, new)
    (tmp_path / "systems.yaml").write_text(text, encoding="utf-8")
    shutil.copy(shipped_kb_dir() / "sources.yaml", tmp_path / "sources.yaml")
    return tmp_path, text


def _line(text: str, fragment: str) -> int:
    """1-based line of the first line containing `fragment`."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


def _errors(kb_dir: Path) -> str:
    with pytest.raises(FileErrors) as caught:
        load_systems(kb_dir)
    return str(caught.value)


# ---------------------------------------------------------------------------------------------
# The shipped file


def test_the_shipped_catalog_has_every_host_network_and_site() -> None:
    systems = load_systems()
    assert list(systems.hosts) == [
        "desktop-tower",
        "workstation-4gpu",
        "pcie-server-4gpu",
        "pcie-server-8gpu",
        "hgx-8gpu",
    ]
    assert list(systems.networks) == [
        "ethernet-25g",
        "ethernet-100g",
        "roce-400g",
        "infiniband-ndr",
    ]
    assert set(systems.max_node_kw) == set(SITES) == {"office", "server-room", "datacenter"}


def test_host_figures_match_the_file() -> None:
    hosts = load_systems().hosts
    tower = hosts["desktop-tower"]
    # Two 3-slot cards (RTX 5090 class) take 2 x 3 = 6 slot widths; two 600 W cards on one
    # 1,600 W PSU leave 1,600 - 2 x 600 = 400 W for the platform (250 W) and headroom.
    assert (tower.kind, tower.max_gpus, tower.slot_widths) == ("workstation", 2, 6)
    assert tower.gpu_power_w == 2 * 600 and tower.platform_power_w == 250
    assert tower.price_usd == 2500 and tower.rack_units is None
    assert tower.settings == ("desktop",) and tower.sites == ("office", "server-room")
    assert tower.sources == ("autonomous-ai-workstation-builds", "maintainer-estimate")
    # Four 300 W blower cards: 4 x 300 = 1,200 W within the workstation's 1,600 W; four 600 W
    # Workstation Edition cards (2,400 W) are past it.
    workstation = hosts["workstation-4gpu"]
    assert workstation.max_gpus == 4 and workstation.slot_widths == 4 * 2
    assert workstation.gpu_power_w is not None
    assert 4 * 300 <= workstation.gpu_power_w < 4 * 600
    eight = hosts["pcie-server-8gpu"]
    assert (eight.kind, eight.max_gpus, eight.slot_widths, eight.rack_units) == ("server", 8, 16, 4)
    assert eight.gpu_power_w == 8 * 600 and eight.coolers == ("passive", "blower")


def test_the_hgx_host_takes_a_baseboard_and_leaves_its_price_out() -> None:
    hgx = load_systems().hosts["hgx-8gpu"]
    assert hgx.kind == "hgx" and hgx.max_gpus == 8
    assert hgx.slot_widths is None and hgx.gpu_power_w is None
    # DGX H100: 10.2 kW maximum, of which 8 x 700 W are GPUs: 10,200 - 5,600 = 4,600 W besides.
    assert hgx.platform_power_w == 10_200 - 8 * 700
    assert hgx.price_usd == 45_000 and hgx.rack_units == 8
    assert hgx.sources == ("nvidia-dgx-h100-user-guide", "h100-cluster-cost-sheet-2024")


def test_network_figures_match_the_file() -> None:
    networks = load_systems().networks
    # GB/s per direction = Gb/s / 8.
    assert networks["ethernet-25g"].gbs == 25 / 8 == 3.125
    assert networks["ethernet-100g"].gbs == 100 / 8
    assert networks["roce-400g"].gbs == networks["infiniband-ndr"].gbs == 400 / 8
    assert [n.per for n in networks.values()] == ["node", "node", "gpu", "gpu"]
    assert [n.fabric for n in networks.values()] == ["ethernet", "roce", "roce", "infiniband"]
    assert [n.usd_per_port for n in networks.values()] == [700, 2500, 4500, 5000]
    assert networks["infiniband-ndr"].hosts == ("pcie-server-4gpu", "pcie-server-8gpu", "hgx-8gpu")
    assert "desktop-tower" in networks["ethernet-25g"].hosts
    assert "desktop-tower" not in networks["ethernet-100g"].hosts
    assert networks["infiniband-ndr"].sources == (
        "nvidia-qm9700-user-manual",
        "yobitel-infiniband-ndr",
    )


def test_site_limits_match_the_file() -> None:
    systems = load_systems()
    # Office: one 20 A / 120 V circuit at 80% continuous: 20 x 120 x 0.8 = 1,920 W.
    assert systems.max_node_kw["office"] == pytest.approx(20 * 120 * 0.8 / 1000)
    assert systems.max_node_kw["server-room"] == 8
    assert systems.max_node_kw["datacenter"] == 30
    # A DGX B200 (14.3 kW) fits a datacenter but not a server room.
    assert systems.max_node_kw["server-room"] < 14.3 <= systems.max_node_kw["datacenter"]
    assert systems.site_sources["office"] == ("nec-continuous-load",)


def test_board_devices_state_the_power_of_their_whole_system() -> None:
    from gpu_advisor.knowledge.kb_schema import load_knowledge

    devices = load_knowledge().devices
    expected = {
        "h100-sxm": 10_200,  # DGX H100
        "h200": 10_200,  # DGX H200, same chassis
        "b200": 14_300,  # DGX B200
        "a100-80gb-sxm": 6_500,  # DGX A100
        "mi300x": 8 * 750 + 4_600,  # eight 750 W OAM modules + the DGX H100's non-GPU 4.6 kW
        "mi325x": 8 * 1_000 + 4_600,  # eight 1,000 W modules + the same
    }
    for device_id, watts in expected.items():
        assert devices[device_id].value("system_power_w") == watts, device_id
        note = devices[device_id].fact("purchase_unit_price_usd").note or ""
        assert "baseboard only" in note and "hgx-8gpu" in note, device_id


def test_the_mini_knowledge_base_has_its_own_catalog() -> None:
    assert systems_path(MINI_KB) == MINI_KB / "systems.yaml"
    assert set(load_systems(MINI_KB).hosts) == set(load_systems().hosts)


def test_a_folder_without_the_file_falls_back_to_the_shipped_one(tmp_path: Path) -> None:
    assert systems_path(tmp_path) == SHIPPED
    assert load_systems(tmp_path) is load_systems()  # cached per path


# ---------------------------------------------------------------------------------------------
# Broken files: one clear message each, at path:line:col


def test_unknown_key_is_located_with_a_suggestion(tmp_path: Path) -> None:
    kb, text = _broken(tmp_path, "    max_gpus: 2\n", "    max_gpu: 2\n")
    message = _errors(kb)
    assert f"systems.yaml:{_line(text, 'max_gpu: 2')}:" in message
    assert "unknown key 'max_gpu' (did you mean 'max_gpus'?)" in message


def test_unknown_host_of_a_network_is_refused_with_a_suggestion(tmp_path: Path) -> None:
    old = "    hosts: [pcie-server-4gpu, pcie-server-8gpu, hgx-8gpu]\n\n  infiniband-ndr:"
    new = "    hosts: [pcie-server-4gpu, pcie-server-8gp, hgx-8gpu]\n\n  infiniband-ndr:"
    kb, text = _broken(tmp_path, old, new)
    message = _errors(kb)
    assert f"systems.yaml:{_line(text, 'pcie-server-8gp,')}:" in message
    assert "unknown host 'pcie-server-8gp' (did you mean 'pcie-server-8gpu'?)" in message


def test_unregistered_source_is_refused(tmp_path: Path) -> None:
    old = "      source: nvidia-dgx-h100-user-guide\n"
    kb, text = _broken(tmp_path, old, "      source: nvidia-dgx-h100-user-gide\n")
    message = _errors(kb)
    assert f"systems.yaml:{_line(text, 'nvidia-dgx-h100-user-gide')}:" in message
    assert "unknown source 'nvidia-dgx-h100-user-gide'" in message
    assert "did you mean 'nvidia-dgx-h100-user-guide'" in message


def test_an_estimate_must_say_so_and_why(tmp_path: Path) -> None:
    old = """      value: 250
      source: maintainer-estimate
      kind: estimate
"""
    new = """      value: 250
      source: maintainer-estimate
"""
    kb, text = _broken(tmp_path, old, new)
    message = _errors(kb)
    assert f"systems.yaml:{_line(text, 'value: 250')}:" in message
    assert "maintainer-estimate needs kind: estimate and a note" in message


def test_a_price_must_say_when(tmp_path: Path) -> None:
    kb, text = _broken(
        tmp_path, '      as_of: "2026-12"\n      note: "Consumer CPU', '      note: "Consumer CPU'
    )
    message = _errors(kb)
    assert f"systems.yaml:{_line(text, 'value: 2500')}:" in message
    assert "a price needs as_of" in message


@pytest.mark.parametrize(
    ("bad", "said"),
    [
        (".inf", "not a finite number"),  # refused by the YAML reader itself
        (".nan", "not a finite number"),
        ("-5", "expected a positive finite number"),
        ("0", "expected a positive finite number"),
        ('"1200"', "expected a positive finite number"),  # a string is not a number
    ],
)
def test_numbers_must_be_positive_and_finite(tmp_path: Path, bad: str, said: str) -> None:
    old = "      value: 1200\n      source: autonomous-ai"
    kb, text = _broken(tmp_path, old, f"      value: {bad}\n      source: autonomous-ai")
    message = _errors(kb)
    assert f"systems.yaml:{_line(text, f'value: {bad}')}:" in message
    assert said in message


def test_an_hgx_host_has_no_slots(tmp_path: Path) -> None:
    kb, text = _broken(tmp_path, "    slot_widths: null\n", "    slot_widths: 8\n")
    message = _errors(kb)
    assert f"systems.yaml:{_line(text, 'name: HGX 8-GPU server')}:" in message
    assert "slot_widths and gpu_power_w must be null" in message


def test_unknown_site_setting_and_cooler_are_refused(tmp_path: Path) -> None:
    old = """    sites: [office, server-room]
    settings: [desktop]
    coolers: [active, blower]
"""
    new = """    sites: [ofice, server-room]
    settings: [desktp]
    coolers: [active, blowr]
"""
    kb, text = _broken(tmp_path, old, new)
    message = _errors(kb)
    assert f"systems.yaml:{_line(text, 'ofice')}:" in message
    assert "unknown site 'ofice' (did you mean 'office'?)" in message
    assert "unknown setting 'desktp' (did you mean 'desktop'?)" in message
    assert "unknown cooling 'blowr' (did you mean 'blower'?)" in message


def test_a_missing_site_is_reported(tmp_path: Path) -> None:
    old = "  datacenter:\n    max_node_kw:\n"
    kb, _ = _broken(tmp_path, old, "  data-center:\n    max_node_kw:\n")
    message = _errors(kb)
    assert "unknown site 'data-center' (did you mean 'datacenter'?)" in message
    assert "missing site 'datacenter'" in message


def test_a_duplicate_key_is_refused(tmp_path: Path) -> None:
    kb, text = _broken(tmp_path, "    max_gpus: 2\n", "    max_gpus: 2\n    max_gpus: 3\n")
    message = _errors(kb)
    assert f"systems.yaml:{_line(text, 'max_gpus: 3')}:" in message
    assert "duplicate" in message
