"""Redraw only what changed: text and option lists updated in place, with a layout pass only when
a widget's height changes.

An answer change used to rewrite every label and rebuild every list of the results, and each
rewrite asked Textual for a layout pass over the whole screen (issue 16: p95 76 ms against a
50 ms target). Most of an update changes a few numbers on lines that keep their height; these
helpers skip what is unchanged and repaint the rest without re-laying out the screen.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textual.content import Content
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option


def drawn_as(content: Any) -> tuple[str, tuple[Any, ...]]:
    """What a piece of text looks like on screen: its characters and its styles (Content's own
    ``==`` compares the characters only, so a colour change would look like no change)."""
    if isinstance(content, Content):
        return content.plain, tuple(content.spans)
    return str(content), ()


def _height(content: Content | str, widget: Static, width: int) -> int:
    visual = content if isinstance(content, Content) else Content(content)
    if "\n" not in visual.plain and visual.cell_length <= width:
        return 1  # one short line: no need to wrap it to know
    return visual.get_height(widget.styles, width)


def set_text(widget: Static, content: Content | str) -> bool:
    """Show `content` in `widget` unless it already shows it; lay the screen out again only when
    the text's height changes (or the widget's width follows its text). True when redrawn."""
    if drawn_as(widget.content) == drawn_as(content):
        return False
    size = widget.virtual_region.shrink(widget.styles.gutter).size
    width_rule = widget.styles.width  # None: the default, as wide as the container
    same_height = (
        size.width > 0
        and size.height > 0
        and (width_rule is None or not width_rule.is_auto)
        and _height(content, widget, size.width) == size.height
    )
    widget.update(content, layout=not same_height)
    return True


def set_options(widget: OptionList, options: Sequence[Option]) -> bool:
    """Show `options` in `widget`: when the ids are the ones shown, only the prompts that differ
    are replaced (no rebuild, the highlight and scroll stay); a layout pass only when the list's
    height changes. True when anything was redrawn."""
    ids = [option.id for option in options]
    shown = [widget.get_option_at_index(i).id for i in range(widget.option_count)]
    if shown != ids or None in ids:
        # set_options, not clear_options + add_options: the list is never seen empty in
        # between, so its scroll bar is not hidden and shown again (each costs a layout pass).
        highlighted = widget.highlighted
        widget.set_options(options)
        if highlighted is not None and highlighted < widget.option_count:
            widget.highlighted = highlighted
        return True
    width = widget.scrollable_content_region.width

    def height() -> int:
        return widget.get_content_height(widget.size, widget.size, width) if width else -1

    before = height()
    changed = False
    for index, option in enumerate(options):
        if drawn_as(widget.get_option_at_index(index).prompt) != drawn_as(option.prompt):
            widget.replace_option_prompt_at_index(index, option.prompt)
            changed = True
    if changed and (not width or height() != before):
        widget.refresh(layout=True)
    return changed
