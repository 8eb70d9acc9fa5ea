"""Answers as the consultation takes them: the questionnaire walk and the answer checks.

They live in :mod:`gpu_advisor.knowledge.answers` (answers are checked against the questionnaire
of the rule files, and the rule loader checks every example's answers); this module is the core
layer's name for them.
"""

from __future__ import annotations

from gpu_advisor.knowledge.answers import (
    Answers,
    Visit,
    coerce,
    load_answers_file,
    normalize_answers,
    parse_set,
    walk_questionnaire,
)

__all__ = [
    "Answers",
    "Visit",
    "coerce",
    "load_answers_file",
    "normalize_answers",
    "parse_set",
    "walk_questionnaire",
]
