"""A model's config from the Hugging Face Hub, only when the user opts in, cached for later.

gpu-advisor is offline by default: ``--model org/name`` with no such file says how to opt in.
The opt-in is one switch, read here and nowhere else: the environment variable
``GPU_ADVISOR_ALLOW_DOWNLOAD=1`` (any front end, the TUI included), or, for one command line
run, ``--fetch-model`` on ``size``, ``recommend`` and ``deploy`` (the command runs inside
:func:`downloads_allowed`; the environment is not touched).

Only two small JSON files are fetched, never weights: ``config.json`` (the shape) and, when the
repository has one, ``model.safetensors.index.json`` (its ``metadata.total_size``: the stored
bytes, and with the config's dtype the parameter count; only the metadata is kept, the
weight map can run to megabytes). They come from
``${HF_ENDPOINT:-https://huggingface.co}/{id}/resolve/main/<file>`` with the standard library
(a timeout on each read, a size cap, ``Authorization: Bearer $HF_TOKEN`` when set, never
carried by a redirect to another host), checked to be JSON objects, and written atomically
into ``<cache>/hub/<org>--<name>/`` (the cache folder of ``knowledge.user_cache``:
``$GPU_ADVISOR_CACHE_DIR``, else ``$XDG_CACHE_HOME/gpu-advisor``). ``config.json`` is
written last, so its presence means a complete entry; a cached entry is read with no network
access and no opt-in. Delete the folder to fetch again.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import urllib.parse
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from gpu_advisor.errors import FileError, FileErrors, Location
from gpu_advisor.knowledge.safe_files import (
    MAX_DATA_FILE_BYTES,
    load_json_bounded,
    write_text_safely,
)
from gpu_advisor.knowledge.user_cache import cache_dir
from gpu_advisor.version import __version__

ALLOW_ENV = "GPU_ADVISOR_ALLOW_DOWNLOAD"
"""Set to 1 to let a Hub id be fetched (config.json and the safetensors index only)."""
DEFAULT_ENDPOINT = "https://huggingface.co"
TIMEOUT_S = 20.0
"""Seconds a connection or a read may stall before the fetch fails."""
MAX_CONFIG_BYTES = MAX_DATA_FILE_BYTES
"""The largest config.json accepted (real ones are a few KB)."""
MAX_INDEX_BYTES = 4 * MAX_DATA_FILE_BYTES
"""The largest safetensors index accepted (DeepSeek-V3's weight map is about 9 MB)."""
CONFIG = "config.json"
INDEX = "model.safetensors.index.json"

_HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
"""owner/name as the Hub spells repository ids (letters, digits, '.', '_', '-')."""
_allowed: ContextVar[bool] = ContextVar("gpu_advisor_hub_downloads", default=False)


def is_hub_id(text: str) -> bool:
    """Whether ``text`` is spelled like a Hub repository id (``org/name``): one slash, no
    path syntax (``./``, ``..``, ``~``) and no file suffix."""
    text = text.strip()
    return (
        _HUB_ID.fullmatch(text) is not None
        and ".." not in text
        and not text.lower().endswith((".json", ".gguf", ".safetensors"))
    )


def downloads_allowed_now() -> bool:
    """The opt-in: ``--fetch-model`` for this command, or ``GPU_ADVISOR_ALLOW_DOWNLOAD=1``."""
    return _allowed.get() or os.environ.get(ALLOW_ENV, "").strip().lower() in (
        "1",
        "true",
        "yes",
    )


@contextlib.contextmanager
def downloads_allowed(allowed: bool = True) -> Iterator[None]:
    """Run a block with Hub downloads allowed (the command line's ``--fetch-model``)."""
    token = _allowed.set(allowed)
    try:
        yield
    finally:
        _allowed.reset(token)


def endpoint() -> str:
    """``$HF_ENDPOINT`` (a mirror, or a test server), else the Hub itself."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def cache_folder(hub_id: str) -> Path:
    """Where a Hub model's files are kept: ``<cache>/hub/<org>--<name>``."""
    org, name = hub_id.strip().split("/")
    return cache_dir() / "hub" / f"{org}--{name}"


def not_fetched_hint(hub_id: str) -> str:
    """What to say when a Hub id was given without the opt-in."""
    return (
        f"no such file or folder; {hub_id!r} looks like a Hugging Face Hub id: download its "
        f"{CONFIG} (or the model folder) and give its path, or let gpu-advisor fetch "
        f"{CONFIG} alone (no weights) with {ALLOW_ENV}=1 (on the command line: --fetch-model)"
    )


def model_folder(hub_id: str) -> Path:
    """The local folder holding a Hub model's config: the cached copy (no network), else a
    fresh fetch when the user opted in, else a FileError that says how to opt in."""
    hub_id = hub_id.strip()
    folder = cache_folder(hub_id)
    if (folder / CONFIG).is_file():
        return folder
    if not downloads_allowed_now():
        raise FileError(Location(hub_id), not_fetched_hint(hub_id))
    config = _fetch_json(hub_id, CONFIG, MAX_CONFIG_BYTES, optional=False)
    assert config is not None  # not optional: a missing config raised
    index = _fetch_json(hub_id, INDEX, MAX_INDEX_BYTES, optional=True)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if index is not None:
            metadata = index.get("metadata")
            kept = {"metadata": metadata if isinstance(metadata, dict) else {}}
            write_text_safely(folder / INDEX, json.dumps(kept, indent=2) + "\n")
        write_text_safely(folder / CONFIG, json.dumps(config, indent=2) + "\n")
    except OSError as err:
        raise FileError(
            Location(str(folder)), f"cannot cache the fetched config: {err.strerror or err}"
        ) from None
    return folder


def _url(hub_id: str, name: str) -> str:
    return f"{endpoint()}/{urllib.parse.quote(hub_id)}/resolve/main/{name}"


def _fetch_json(hub_id: str, name: str, limit: int, *, optional: bool) -> dict[str, Any] | None:
    """One JSON object from the Hub, or None when ``optional`` and the repository lacks it."""
    import urllib.error  # here, not at the top: http.client and ssl cost start-up time
    import urllib.request

    url = _url(hub_id, name)
    request = urllib.request.Request(url, headers={"User-Agent": f"gpu-advisor/{__version__}"})
    token = os.environ.get("HF_TOKEN", "").strip()
    if token:
        # Unredirected: a redirect carries it on only to the same host (see below).
        request.add_unredirected_header("Authorization", f"Bearer {token}")
    opener = urllib.request.build_opener(_same_host_redirects())
    try:
        with opener.open(request, timeout=TIMEOUT_S) as response:
            data = _read_at_most(response, limit + 1)
    except urllib.error.HTTPError as err:
        if optional and err.code == 404:
            return None
        raise FileError(Location(url), _http_problem(hub_id, err.code, bool(token))) from None
    except urllib.error.URLError as err:
        raise FileError(
            Location(url), f"cannot reach {endpoint()}: {_reason(err.reason)}"
        ) from None
    except (OSError, ValueError) as err:  # timeouts, resets, a malformed endpoint
        raise FileError(Location(url), f"cannot reach {endpoint()}: {_reason(err)}") from None
    if len(data) > limit:
        raise FileError(Location(url), f"larger than {limit:,} bytes: not a model's {name}")
    try:  # bounded as every JSON file we read: depth, number sizes, no NaN
        parsed = load_json_bounded(data.decode("utf-8"), url)
    except UnicodeDecodeError:
        raise FileError(Location(url), f"the Hub's {name} is not valid JSON") from None
    except FileErrors as problems:
        first = problems.errors[0].message if problems.errors else "unreadable"
        raise FileError(Location(url), f"the Hub's {name} is not valid JSON: {first}") from None
    if not isinstance(parsed, dict):
        raise FileError(Location(url), f"the Hub's {name} is not a JSON object")
    return parsed


def _http_problem(hub_id: str, code: int, token_set: bool) -> str:
    if code == 404:
        return (
            f"not found on the Hub (HTTP 404): is {hub_id!r} a Hub id? A local model must be "
            "a path that exists (a config.json, a model folder or a .gguf)"
        )
    if code in (401, 403):
        advice = (
            "your HF_TOKEN may not read it: accept the model's license on its Hub page"
            if token_set
            else "a gated or private model needs HF_TOKEN set to a token that may read it"
        )
        return f"the Hub refused it (HTTP {code}): {advice} (or the id is misspelled)"
    return f"the Hub answered HTTP {code}; try again later"


def _reason(reason: object) -> str:
    text = str(getattr(reason, "strerror", None) or reason)
    return text or type(reason).__name__


def _read_at_most(response: Any, size: int) -> bytes:
    """Up to ``size`` bytes of a response, however the server chunks them."""
    parts: list[bytes] = []
    held = 0
    while held < size:
        part = response.read(min(1 << 16, size - held))
        if not part:
            break
        parts.append(part)
        held += len(part)
    return b"".join(parts)


def _same_host_redirects() -> Any:
    """A redirect handler (built on first use, as urllib is imported then) that follows
    redirects to http(s) only, and carries the token (an unredirected header, which urllib
    drops on every redirect) on to the same scheme and host, never to another."""
    import urllib.request

    class SameHostRedirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(  # type: ignore[no-untyped-def]
            self, req, fp, code, msg, headers, newurl
        ):
            target = urllib.parse.urlsplit(newurl)
            if target.scheme not in ("http", "https"):
                return None
            new = super().redirect_request(req, fp, code, msg, headers, newurl)
            origin = urllib.parse.urlsplit(req.full_url)
            token = req.unredirected_hdrs.get("Authorization")
            if (
                new is not None
                and token
                and (target.scheme, target.netloc)
                == (
                    origin.scheme,
                    origin.netloc,
                )
            ):
                new.add_unredirected_header("Authorization", token)
            return new

    return SameHostRedirects()
