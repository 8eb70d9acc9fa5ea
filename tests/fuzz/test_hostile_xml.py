"""Hostile ``nvidia-smi -q -x`` files: refused with a position, never a traceback, a hang or
gigabytes of memory (issue 17)."""

from __future__ import annotations

import io
import os
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpu_advisor.errors import AdvisorError, FileErrors
from gpu_advisor.hardware import probe
from gpu_advisor.hardware.nvidia_smi import MAX_XML_ELEMENTS
from gpu_advisor.knowledge.safe_files import MAX_PROBE_FILE_BYTES
from tests.conftest import FIXTURES
from tests.fuzz.budget import fuzz_settings

SAMPLE = (FIXTURES / "probe" / "workstation-2x-pro6000.xml").read_text(encoding="utf-8")


def test_a_file_of_tiny_elements_is_refused_before_its_tree_grows() -> None:
    """The campaign's 60 MB file of ``<a/>`` took 2.1 GB. Here 2,000,000 elements (8 MB of
    text, under the size cap) must stop at element MAX_XML_ELEMENTS + 1 = 200,001: at about
    1 KB per element the tree reaches ~200 MB at most, and the peak stays far below the
    2,000,000 x 1 KB = 2 GB a full parse would take."""
    text = "<nvidia_smi_log>" + "<a/>" * 2_000_000 + "</nvidia_smi_log>"
    assert len(text) < MAX_PROBE_FILE_BYTES
    tracemalloc.start()
    try:
        with pytest.raises(FileErrors) as caught:
            probe.parse_xml(text, "tiny.xml")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    error = caught.value.errors[0]
    assert f"more than {MAX_XML_ELEMENTS:,} elements" in error.message
    # element 200,001 starts at column 16 (after "<nvidia_smi_log>") + 200,000 x 4 + 1 = 800,017
    assert (error.location.line, error.location.column) == (1, 800_017)
    assert peak < 400 * 2**20


def test_a_file_over_the_size_cap_is_refused_unread(tmp_path: Path) -> None:
    big = tmp_path / "big.xml"
    with big.open("wb") as handle:  # a sparse file: the cap is checked before reading
        handle.truncate(MAX_PROBE_FILE_BYTES + 1)
    with pytest.raises(FileErrors, match="over the 33,554,432-byte limit"):
        probe.read_files([str(big)])


def test_devices_fifos_and_endless_standard_input_are_refused(tmp_path: Path) -> None:
    with pytest.raises(FileErrors, match="character device, not a regular file"):
        probe.read_files(["/dev/zero"])
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(FileErrors, match="FIFO"):  # opened without blocking, then refused
        probe.read_files([str(fifo)])
    endless = io.StringIO("<" * (MAX_PROBE_FILE_BYTES + 10))
    with pytest.raises(FileErrors, match="too large"):
        probe.read_files(["-"], endless.read)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (  # an entity declared outside an internal subset cannot exist; inside one is refused
            '<!DOCTYPE x [<!ENTITY a "b">]><nvidia_smi_log>&a;</nvidia_smi_log>',
            "internal subset",
        ),
        ("<nvidia_smi_log>&undefined;</nvidia_smi_log>", "not well-formed XML: undefined entity"),
        ('<nvidia_smi_log attr="<"/>', "not well-formed XML"),
        ("", "not well-formed XML: no element found"),
    ],
)
def test_refusals_name_the_position(text: str, message: str) -> None:
    with pytest.raises(FileErrors) as caught:
        probe.parse_xml(text, "evil.xml")
    error = caught.value.errors[0]
    assert message in error.message and error.location.line == 1


def test_the_shipped_doctype_of_nvidia_smi_is_accepted() -> None:
    """nvidia-smi writes a DOCTYPE naming an external DTD, which is never fetched."""
    assert SAMPLE.lstrip().startswith("<?xml") and "<!DOCTYPE nvidia_smi_log SYSTEM" in SAMPLE
    assert probe.parse_xml(SAMPLE, "ok.xml").tag == "nvidia_smi_log"


_EVIL_SNIPPETS = [
    '<!DOCTYPE l [<!ENTITY l0 "lol"><!ENTITY l1 "&l0;&l0;&l0;&l0;">]>',
    '<!DOCTYPE x SYSTEM "file:///etc/passwd">',
    '<!ENTITY e SYSTEM "file:///etc/passwd">',
    "&e;",
    "&#0;",
    "<![CDATA[",
    "<?xml-stylesheet href='x'?>",
    "<gpu>" * 100,
    "</gpu>",
    "\x00",
    "\ud800",
    "9" * 500,
    "<fb_memory_usage><total>" + "9" * 400 + " MiB</total></fb_memory_usage>",
    "<fb_memory_usage><total>nan MiB</total></fb_memory_usage>",
]


@fuzz_settings(150)
@given(
    cuts=st.lists(
        st.tuples(
            st.integers(0, len(SAMPLE)),
            st.integers(0, 64),
            st.one_of(st.sampled_from(_EVIL_SNIPPETS), st.text(max_size=16)),
        ),
        max_size=4,
    )
)
def test_mutated_nvidia_smi_outputs_are_read_or_refused(
    cuts: list[tuple[int, int, str]],
) -> None:
    """A saved output with pieces cut out and hostile snippets put in: either a machine whose
    numbers are finite, or one AdvisorError (FileErrors with the file's name, or the saved
    'no devices' messages); never another exception."""
    text = SAMPLE
    for at, drop, insert in cuts:
        text = text[:at] + insert + text[at + drop :]
    try:
        machine = probe.read_outputs([("mutant.xml", text)])
    except FileErrors as exc:
        assert exc.errors and all(e.location.path == "mutant.xml" for e in exc.errors)
        return
    except AdvisorError:
        return
    for gpu in machine.gpus:
        memory = gpu.memory_gb
        assert memory is None or memory == memory and memory != float("inf")


def test_a_memory_beyond_a_float_is_refused_where_it_stands() -> None:
    """The campaign's 999...9 MiB was planned as "inf usable". In the sample, GPU 0's
    ``<total>97887 MiB</total>`` is the first; its digits start after the tabs and ``<total>``."""
    line_no = SAMPLE[: SAMPLE.index("<total>97887 MiB")].count("\n") + 1
    column = len(SAMPLE.splitlines()[line_no - 1].split("<total>")[0]) + len("<total>") + 1
    text = SAMPLE.replace("<total>97887 MiB", "<total>" + "9" * 400 + " MiB", 1)
    with pytest.raises(FileErrors) as caught:
        probe.read_outputs([("huge.xml", text)])
    error = caught.value.errors[0]
    assert (error.location.line, error.location.column) == (line_no, column)
    assert error.message == "999999999999... (400 digits) is not a finite number"
