"""The library's errors: one base, :class:`TagcoreError`, under every error tagcore raises.

Catch :class:`TagcoreError` to handle anything tagcore refused; the concrete classes also
subclass the built-in they always were (``ValueError`` for bad input), so older ``except
ValueError`` code keeps working.

>>> import tagcore as tc
>>> issubclass(tc.TagError, tc.TagcoreError), issubclass(tc.TagError, ValueError)
(True, True)

``on_error`` is one vocabulary everywhere (constructors, readers, the CLI): ``"raise"`` stops
at the first bad row with an error that names its position, field and reason; ``"skip"``
leaves the bad rows out, counts them and keeps the first reasons in ``log.problems``.
``"drop"`` is accepted as another name for ``"skip"``.

>>> check_on_error("drop")
'skip'
"""

from __future__ import annotations

from typing import Any

__all__ = ["TagcoreError", "CoerceError", "ON_ERROR", "check_on_error"]

ON_ERROR = ("raise", "skip")


class TagcoreError(Exception):
    """Base of every error tagcore raises.

    >>> try:
    ...     check_on_error("ignore")
    ... except TagcoreError as exc:
    ...     print(exc)
    on_error: expected 'raise' or 'skip', got 'ignore'
    """


class CoerceError(TagcoreError, ValueError):
    """A value that cannot be read as money, a time, a token count or a usage object.

    ``field`` names what was read, ``reason`` says why; readers add the row.

    >>> print(CoerceError("cost", "expected a number of dollars, got 'abc'"))
    cost: expected a number of dollars, got 'abc'
    """

    def __init__(self, field: str, reason: str, value: Any = None, row: int | None = None):
        self.field, self.reason, self.value, self.row = field, reason, value, row
        where = f"row {row}, column " if row is not None else ""
        super().__init__(f"{where}{field}: {reason}")


class OnErrorError(TagcoreError, ValueError):
    """An ``on_error`` argument outside the vocabulary."""


def check_on_error(on_error: Any) -> str:
    """The canonical ``on_error`` (``"raise"`` or ``"skip"``; ``"drop"`` means ``"skip"``).

    >>> check_on_error("raise"), check_on_error("skip")
    ('raise', 'skip')
    """
    if on_error == "drop":
        return "skip"
    if on_error not in ON_ERROR:
        raise OnErrorError(f"on_error: expected 'raise' or 'skip', got {on_error!r}")
    return on_error
