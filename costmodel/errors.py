"""The error every user-facing ConfX failure derives from.

It lives in the lowest package so that every layer (cost model, environment,
pipeline, CLI) can raise and catch the same type. The CLI catches only
``ConfXError``: anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class ConfXError(Exception):
    """Bad user input: a layer table, dataflow, budget or configuration.

    The message names the file, field and value at fault and says how to fix it.
    """


class LayerTableError(ConfXError):
    """A layer table (or a design table) that the cost model cannot evaluate."""


class MappingError(ConfXError):
    """A MAESTRO mapping (dataflow directives) that MAESTRO's parser would reject.

    The message is one line: ``file:line: 'directive': problem``.
    """


def join_problems(problems: list[str], *, limit: int = 10) -> str:
    """Join a list of problems into one message, capped so that it stays readable."""
    shown = problems[:limit]
    more = len(problems) - len(shown)
    text = "; ".join(shown)
    if more > 0:
        text += f"; and {more} more problem(s)"
    return text
