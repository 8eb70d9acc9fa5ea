"""Redraw only what changed: text and option lists updated in place, with a layout pass only when
a widget's height changes.

An answer change used to rewrite every label and rebuild every list of the results, and each
rewrite asked Textual for a layout pass over the whole screen (issue 16: p95 76 ms against a
50 ms target). Most of an update changes a few numbers on lines that keep their height; these
helpers skip what is unchanged and repaint the rest without re-laying out the screen. In an
option list only the rows that changed are rendered again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from textual.content import Content
from textual.visual import VisualType
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
    are replaced and re-rendered (no rebuild, the highlight and scroll stay); a layout pass only
    when the list's height changes. True when anything was redrawn."""
    ids = [option.id for option in options]
    shown = [widget.get_option_at_index(i).id for i in range(widget.option_count)]
    if shown != ids or None in ids:
        _rebuild(widget, options)
        return True
    changed = {
        index: option.prompt
        for index, option in enumerate(options)
        if drawn_as(widget.get_option_at_index(index).prompt) != drawn_as(option.prompt)
    }
    replace_prompts(widget, changed)
    return bool(changed)


def _rebuild(widget: OptionList, options: Sequence[Option]) -> None:
    """Replace every option of `widget`, keeping what is already worked out for the rows that
    read as before: their measured height, and their rendering when their place is unchanged
    (OptionList's ``set_options`` forgets both for every row; a rendering carries its row's
    index, which a click reports, so a row that moved is rendered again). Like
    :func:`replace_prompts`, this reaches into OptionList's caches."""
    before = {option.id: (index, option) for index, option in enumerate(widget.options)}
    rows: list[Option] = []
    in_place: set[Option] = set()
    for index, option in enumerate(options):
        old_index, old = before.get(option.id, (-1, None))
        if (
            old is not None
            and option.id is not None
            and old.disabled == option.disabled
            and drawn_as(old.prompt) == drawn_as(option.prompt)
        ):
            option = old
            if old_index == index:
                in_place.add(old)
        rows.append(option)
    cache = widget._option_render_cache
    drawn = [(key, cache[key]) for key in cache.keys() if key[0] in in_place]
    highlighted = widget.highlighted
    # set_options, not clear_options + add_options: the list is never seen empty in between, so
    # its scroll bar is not hidden and shown again (each costs a layout pass).
    widget.set_options(rows)
    for key, strips in drawn:
        cache.set(key, strips)
    if highlighted is not None and highlighted < widget.option_count:
        widget.highlighted = highlighted


def _option_height(widget: OptionList, option: Option, width: int) -> int:
    """Lines `option` takes in `widget` at `width` cells, counted as OptionList counts them."""
    text_width = width - widget.get_component_styles("option-list--option").padding.width
    visual = widget._get_visual(option)
    one_line = (
        isinstance(visual, Content)
        and "\n" not in visual.plain
        and visual.cell_length <= text_width
    )
    height = 1 if one_line else visual.get_height(widget.styles, text_width)
    return height + (1 if option._divider else 0)


def replace_prompts(widget: OptionList, prompts: Mapping[int, VisualType]) -> None:
    """Give the options at these indexes new prompts, re-rendering only those options; lay the
    screen out again only when the list's height changes.

    Textual's ``replace_option_prompt_at_index`` forgets the rendering and the line map of every
    option in the list, so one changed value in the answer list re-wrapped and re-rendered every
    row on screen (about 0.1-0.2 ms a row, issue 16). This reaches into OptionList's caches
    (textual is pinned in pyproject.toml; ``tests/tui/test_redraw.py`` checks the rows drawn and
    re-rendered).
    """
    if not prompts:
        return
    lines = widget._line_cache
    width = widget.scrollable_content_region.width - widget._get_left_gutter_width()
    known = bool(lines.lines) and width > 0  # drawn before: the old heights are in the line map
    changed: set[Option] = set()
    grown = 0
    moved = False
    for index, prompt in prompts.items():
        option = widget.get_option_at_index(index)
        option._set_prompt(prompt)
        changed.add(option)
        if known:
            old = lines.heights.get(index, 0)
            new = _option_height(widget, option, width)
            moved = moved or new != old
            grown += new - old
    cache = widget._option_render_cache
    for key in [key for key in cache.keys() if key[0] in changed]:
        cache.discard(key)
    if moved or not known:
        lines.clear()  # rows moved: OptionList maps screen lines to options again
    widget.refresh(layout=grown != 0 or not known)
