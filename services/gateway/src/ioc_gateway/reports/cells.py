"""What goes into a spreadsheet cell: text that a spreadsheet will never run as a formula, and
numbers kept as numbers."""

from __future__ import annotations

from typing import Final

#: A cell starting with one of these is a formula (or becomes one) in Excel, LibreOffice and
#: Google Sheets: ``=``, ``+``, ``-``, ``@``, and a tab or carriage return before any of them
#: (and a line feed: XLSX stores a carriage return as one).
FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r", "\n")


def neutralise(text: str) -> str:
    """``text`` as a spreadsheet shows it but never evaluates: one that starts like a formula
    gets a leading apostrophe (OWASP's advice for CSV injection), so ``=HYPERLINK(…)`` in a
    unit's or target's name arrives as the text it is. Every text cell of a report goes
    through here; names come from other services and from admins' input."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def plain_number(value: float, decimal_comma: bool) -> str:
    """A number as a CSV cell that Excel reads as a number: no thousands separator, no
    exponent, at most 4 decimals; a decimal comma for Vietnamese Excel."""
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0"
    return text.replace(".", ",") if decimal_comma else text
