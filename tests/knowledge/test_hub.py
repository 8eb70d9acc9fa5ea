"""A Hub id's config.json, fetched only on opt-in, cached, and every failure one clear message.

No real network: each test runs a local http.server in a thread and points HF_ENDPOINT at it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gpu_advisor.cli.main import main
from gpu_advisor.errors import FileError
from gpu_advisor.knowledge import hub
from gpu_advisor.knowledge.model_files import is_file_reference, read_model, read_model_cached

LLAMA_8B = Path(__file__).parents[1] / "fixtures" / "models" / "llama-3.1-8b" / "config.json"
HUB_ID = "example-org/tiny-llama"


@dataclass
class Hub:
    """A stand-in for the Hub: routes to (status, body, extra headers), and what was asked."""

    routes: dict[str, tuple[int, bytes, dict[str, str]]] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    url: str = ""

    def serve(self, path: str, body: object, status: int = 200, **headers: str) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.routes[path] = (status, data, headers)


def _start(state: Hub) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            state.requests.append((self.path, self.headers.get("Authorization")))
            status, body, headers = state.routes.get(self.path, (404, b"not found", {}))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name.replace("_", "-"), value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    return server


@pytest.fixture
def fake_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    state = Hub()
    server = _start(state)
    monkeypatch.setenv("HF_ENDPOINT", state.url)
    monkeypatch.setenv("GPU_ADVISOR_CACHE_DIR", str(tmp_path / "cache"))
    for name in ("HF_TOKEN", hub.ALLOW_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no local folder named example-org
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def _serve_llama(state: Hub, with_index: bool = True) -> None:
    state.serve(f"/{HUB_ID}/resolve/main/config.json", json.loads(LLAMA_8B.read_text()))
    if with_index:
        # The real index's total_size for Llama-3.1-8B: 8,030,261,248 weights x 2 B (bf16).
        state.serve(
            f"/{HUB_ID}/resolve/main/model.safetensors.index.json",
            {
                "metadata": {"total_size": 16_060_522_496},
                "weight_map": {f"model.layers.{i}.mlp.up_proj.weight": "x" for i in range(32)},
            },
        )


def test_without_the_opt_in_nothing_is_fetched_and_the_message_says_how(fake_hub: Hub) -> None:
    _serve_llama(fake_hub)
    with pytest.raises(FileError) as caught:
        read_model(HUB_ID)
    message = str(caught.value)
    assert message.startswith(f"{HUB_ID}: no such file or folder; ")
    assert "looks like a Hugging Face Hub id" in message
    assert "GPU_ADVISOR_ALLOW_DOWNLOAD=1" in message and "--fetch-model" in message
    assert fake_hub.requests == []


def test_the_environment_opt_in_fetches_config_and_index_once(
    fake_hub: Hub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _serve_llama(fake_hub)
    monkeypatch.setenv(hub.ALLOW_ENV, "1")
    spec = read_model_cached(HUB_ID)
    assert [path for path, _ in fake_hub.requests] == [
        f"/{HUB_ID}/resolve/main/config.json",
        f"/{HUB_ID}/resolve/main/model.safetensors.index.json",
    ]
    assert spec.name == HUB_ID
    # The index: 16,060,522,496 B / 2 B (torch_dtype bfloat16) = 8,030,261,248 weights, the same
    # count the shape gives (tests/arithmetic/test_sizing_files.py).
    assert spec.params == 8_030_261_248 and spec.params_counted
    assert spec.stored_bytes == 16_060_522_496
    assert "metadata.total_size 16,060,522,496 B / 2 B (bfloat16)" in spec.params_formula
    folder = tmp_path / "cache" / "hub" / "example-org--tiny-llama"
    assert spec.source == str(folder / "config.json")
    # Only the index's metadata is kept; no temporaries are left behind.
    kept = json.loads((folder / "model.safetensors.index.json").read_text())
    assert kept == {"metadata": {"total_size": 16_060_522_496}}
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json",
        "model.safetensors.index.json",
    ]
    # The cache hit: read again (without the opt-in, bypassing the in-process memo), no request.
    monkeypatch.delenv(hub.ALLOW_ENV)
    asked = len(fake_hub.requests)
    assert hub.model_folder(HUB_ID) == folder
    assert read_model(HUB_ID).params == 8_030_261_248
    assert len(fake_hub.requests) == asked


def test_the_command_line_flag_is_the_opt_in_and_the_second_run_uses_the_cache(
    fake_hub: Hub, capsys: pytest.CaptureFixture[str]
) -> None:
    _serve_llama(fake_hub)
    argv = ["size", "--workload", "inference", "--model", HUB_ID, "--format", "json"]
    assert main(argv) == 2  # no opt-in
    assert "--fetch-model" in capsys.readouterr().err
    assert main([*argv, "--fetch-model"]) == 0
    first = json.loads(capsys.readouterr().out)
    # bf16: 8,030,261,248 x 2 B = 16.06 GB of weights.
    weights = next(i for i in first["breakdown"] if i["item"] == "weights")
    assert weights["gb"] == pytest.approx(16.061, abs=0.001)
    assert first["request"]["model"] == HUB_ID
    asked = len(fake_hub.requests)
    assert main(argv) == 0  # cached: no flag needed, no request made
    assert json.loads(capsys.readouterr().out) == first
    assert len(fake_hub.requests) == asked
    # The flag does not outlive its command.
    assert not hub.downloads_allowed_now()


def test_xdg_cache_home_is_honoured(
    fake_hub: Hub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _serve_llama(fake_hub, with_index=False)
    monkeypatch.delenv("GPU_ADVISOR_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    with hub.downloads_allowed():
        folder = hub.model_folder(HUB_ID)
    assert folder == tmp_path / "xdg" / "gpu-advisor" / "hub" / "example-org--tiny-llama"
    # No index on the Hub (a 404 for it is not an error): the count comes from the shape.
    assert not (folder / "model.safetensors.index.json").exists()
    spec = read_model(HUB_ID)
    assert spec.params == 8_030_261_248 and not spec.params_counted


def test_hf_token_is_sent_to_the_hub_and_kept_from_other_hosts(
    fake_hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = Hub()
    server = _start(other)
    try:
        config = json.loads(LLAMA_8B.read_text())
        other.serve(f"/elsewhere/{HUB_ID}/config.json", config)
        fake_hub.serve(
            f"/{HUB_ID}/resolve/main/config.json",
            b"",
            status=302,
            Location=f"{other.url}/elsewhere/{HUB_ID}/config.json",
        )
        fake_hub.serve(
            f"/{HUB_ID}/resolve/main/model.safetensors.index.json",
            b"",
            status=307,
            Location=f"/{HUB_ID}/resolve/main/moved-index.json",
        )
        fake_hub.serve(f"/{HUB_ID}/resolve/main/moved-index.json", {"metadata": {}})
        monkeypatch.setenv("HF_TOKEN", "hf_secret")
        with hub.downloads_allowed():
            hub.model_folder(HUB_ID)
    finally:
        server.shutdown()
        server.server_close()
    assert fake_hub.requests == [
        (f"/{HUB_ID}/resolve/main/config.json", "Bearer hf_secret"),
        (f"/{HUB_ID}/resolve/main/model.safetensors.index.json", "Bearer hf_secret"),
        (f"/{HUB_ID}/resolve/main/moved-index.json", "Bearer hf_secret"),  # same host: kept
    ]
    assert other.requests == [(f"/elsewhere/{HUB_ID}/config.json", None)]  # another host


@pytest.mark.parametrize(
    ("status", "token", "expected"),
    [
        (404, None, "not found on the Hub (HTTP 404): is 'example-org/tiny-llama' a Hub id?"),
        (401, None, "the Hub refused it (HTTP 401): a gated or private model needs HF_TOKEN"),
        (403, "hf_x", "the Hub refused it (HTTP 403): your HF_TOKEN may not read it"),
        (500, None, "the Hub answered HTTP 500; try again later"),
    ],
)
def test_http_failures_are_one_clear_message_with_exit_status_2(
    fake_hub: Hub,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    status: int,
    token: str | None,
    expected: str,
) -> None:
    fake_hub.serve(f"/{HUB_ID}/resolve/main/config.json", {"error": "no"}, status=status)
    if token:
        monkeypatch.setenv("HF_TOKEN", token)
    code = main(["size", "--workload", "inference", "--model", HUB_ID, "--fetch-model"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(
        f"gpu-advisor: error: --model: {fake_hub.url}/{HUB_ID}/resolve/main/config.json: "
    )
    assert expected in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (Path("cache") / "hub" / "example-org--tiny-llama").exists()


def test_an_unreachable_endpoint_is_one_message(
    fake_hub: Hub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    closed = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = closed.server_address[1]
    closed.server_close()  # nothing listens there now
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    code = main(["size", "--workload", "inference", "--model", HUB_ID, "--fetch-model"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert f"cannot reach http://127.0.0.1:{port}: " in err


def test_what_is_not_a_json_object_or_too_large_is_refused_and_not_cached(
    fake_hub: Hub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(hub.ALLOW_ENV, "1")
    route = f"/{HUB_ID}/resolve/main/config.json"
    fake_hub.serve(route, b"<html>sign in</html>")
    with pytest.raises(FileError, match="the Hub's config.json is not valid JSON"):
        hub.model_folder(HUB_ID)
    fake_hub.serve(route, [1, 2, 3])
    with pytest.raises(FileError, match="the Hub's config.json is not a JSON object"):
        hub.model_folder(HUB_ID)
    monkeypatch.setattr(hub, "MAX_CONFIG_BYTES", 100)
    fake_hub.serve(route, {"padding": "x" * 200})
    with pytest.raises(FileError, match="larger than 100 bytes: not a model's config.json"):
        hub.model_folder(HUB_ID)
    assert not (tmp_path / "cache" / "hub" / "example-org--tiny-llama" / "config.json").exists()


def test_a_cached_config_is_read_through_the_bounded_reader(
    fake_hub: Hub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A cache entry edited by hand into broken JSON is reported at its line and column.
    folder = tmp_path / "cache" / "hub" / "example-org--tiny-llama"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{\n  "num_hidden_layers": oops\n}\n')
    with pytest.raises(FileError, match=rf"{folder / 'config.json'}:2:\d+: not valid JSON"):
        read_model(HUB_ID)
    assert fake_hub.requests == []


def test_hub_ids_are_told_from_catalog_aliases_and_paths(fake_hub: Hub, tmp_path: Path) -> None:
    catalog = {"mistral-7b", "mistralai/mistral-7b-v0.1"}
    assert is_file_reference(HUB_ID, catalog)
    # A catalog alias spelled as a Hub id stays the catalog's model, offline.
    assert not is_file_reference("mistralai/Mistral-7B-v0.1", catalog)
    assert hub.is_hub_id("Qwen/Qwen2.5-7B-Instruct")
    for not_an_id in ("./x", "a/b/c", "../x", "org/config.json", "org/m.gguf", "~/x", "/x"):
        assert not hub.is_hub_id(not_an_id), not_an_id
    # A missing path under a folder that exists is a mistyped path, not a Hub id.
    (tmp_path / "models").mkdir()
    with pytest.raises(FileError, match="models/llama: no such file or folder$"):
        read_model("models/llama")


def test_recommend_and_deploy_take_the_flag_too(
    fake_hub: Hub, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _serve_llama(fake_hub)
    code = main(
        ["recommend", "--set", "workload=inference", "--model", HUB_ID, "--fetch-model"]
        + ["--format", "json"]
    )
    out = capsys.readouterr().out
    assert code == 0 and HUB_ID in out
    # deploy reads the cache the recommendation filled: vLLM is told to load the Hub id.
    target = tmp_path / "vllm.yaml"
    code = main(
        ["deploy", "--format", "vllm", "--model", HUB_ID, "--device", "h100-sxm", "-o"]
        + [str(target)]
    )
    capsys.readouterr()
    assert code == 0
    assert f'model: "{HUB_ID}"' in target.read_text().splitlines()
