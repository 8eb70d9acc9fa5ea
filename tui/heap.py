"""Keep the garbage collector off the long-lived heap, so no redraw waits for it.

The engine (knowledge base, rule base, durable_rules' compiled rules), Textual and the screens
are hundreds of thousands of objects that live as long as the app. Python's cyclic collector
walks all of them in every full collection, and one fell inside an answer change now and then:
the change took 80 ms instead of 43 (issue 16's p95). Once the first results are on screen, one
collection clears the start-up garbage and ``gc.freeze()`` moves what remains out of the
collector's sight; later garbage is collected as before.
"""

from __future__ import annotations

import gc


def heap_frozen() -> bool:
    """True once :func:`freeze_long_lived_heap` has run in this process."""
    return gc.get_freeze_count() > 0


def freeze_long_lived_heap() -> None:
    """Collect the start-up garbage, then leave everything still alive out of later
    collections (reference counting still frees it when it goes)."""
    gc.collect()
    gc.freeze()
