"""argparse pieces shared by the subcommands: value types (argparse turns their
ArgumentTypeError into one line, ``argument --flag: message``, which the CLI prints with exit
status 2) and what several commands share (--kb/--rules, reading --answers/--set)."""

from __future__ import annotations

import argparse
import math
from typing import Any


def positive_float(text: str) -> float:
    """A finite number > 0 (parameter counts, GB, learning rates)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _int_at_least(minimum: int, text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number >= {minimum}, got {text!r}"
        ) from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """A whole number >= 1 (tokens, sequences, GPUs); accepts 8192 and 8_192."""
    return _int_at_least(1, text)


def whole_number(text: str) -> int:
    """Any integer; the range is checked later so the message can say what is accepted."""
    try:
        return int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def non_negative_int(text: str) -> int:
    """A whole number >= 0 (counts that may be zero)."""
    return _int_at_least(0, text)


def add_dirs(parser: argparse.ArgumentParser) -> None:
    """--kb and --rules: the folders a command loads instead of the shipped ones."""
    parser.add_argument(
        "--kb", metavar="DIR", help="knowledge-base folder (default: the shipped one)"
    )
    parser.add_argument("--rules", metavar="DIR", help="rules folder (default: the shipped one)")


def add_fetch_model(parser: argparse.ArgumentParser) -> None:
    """--fetch-model: let a Hugging Face Hub id given as --model be fetched (config.json and
    the safetensors index only, cached); main runs the command inside the opt-in."""
    parser.add_argument(
        "--fetch-model",
        action="store_true",
        help="let --model org/name (a Hugging Face Hub id) fetch its config.json into the "
        "cache (no weights; HF_ENDPOINT, HF_TOKEN honoured); the same as "
        "GPU_ADVISOR_ALLOW_DOWNLOAD=1. Offline by default",
    )


def gather_answers(args: argparse.Namespace) -> dict[str, Any]:
    """The answers of --answers and --set, --set winning."""
    from gpu_advisor.core.answers import load_answers_file, parse_set

    raw: dict[str, Any] = {}
    if args.answers:
        raw.update(load_answers_file(args.answers))
    raw.update(parse_set(args.set_values))
    return raw
