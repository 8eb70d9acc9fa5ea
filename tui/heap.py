"""Keep the garbage collector off the long-lived heap, so no redraw waits for it.

The engine (knowledge base, rule base, durable_rules' compiled rules), Textual and the screens
are hundreds of thousands of objects that live as long as the app. Python's cyclic collector
walks all of them in every full collection, and one fell inside an answer change now and then:
the change took 80 ms instead of 43 (issue 16's p95). Once the first results are on screen, one
collection clears the start-up garbage and ``gc.freeze()`` moves what remains out of the
collector's sight; later garbage is collected as before.

Whether that has happened is remembered here, not asked of ``gc`` each time:
``gc.get_freeze_count()`` walks the frozen objects one by one (about 90,000 in the app: 6-9 ms),
and the app asks after every consultation.
"""

from __future__ import annotations

import gc

_frozen = False
"""True once the heap is known to be frozen (it stays frozen: nothing here unfreezes it)."""


def heap_frozen() -> bool:
    """True once :func:`freeze_long_lived_heap` (or anything else) has frozen the heap in this
    process; only the first True answer asks ``gc``, which walks every frozen object to count
    them."""
    global _frozen
    if not _frozen:
        _frozen = gc.get_freeze_count() > 0  # nothing frozen yet: an empty list, no walk
    return _frozen


def freeze_long_lived_heap() -> None:
    """Collect the start-up garbage, then leave everything still alive out of later
    collections (reference counting still frees it when it goes)."""
    global _frozen
    gc.collect()
    gc.freeze()
    _frozen = True
