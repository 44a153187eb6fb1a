"""What text a scenario may hold, and how text from outside is shown safely in messages.

Ids name communities in every table, report and spreadsheet, so two ids must never look alike and
differ (an invisible character, a right-to-left override, composed and decomposed accents), and an id
must not start like a spreadsheet formula (``=``, ``+``, ``-``, ``@``). Free text (descriptions,
names, assumptions) may hold line breaks and tabs but no other control character (a terminal escape,
a NUL), no direction override and no lone surrogate (which no file encoding can write).
"""

from __future__ import annotations

import unicodedata

__all__ = ["id_problem", "text_problem", "printable", "FORMULA_START"]

# Characters that make a spreadsheet read a cell as a formula (OWASP's list: = + - @ tab and CR).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Explicit direction controls (embeddings, overrides, isolates): they reorder what a reader sees.
_BIDI_CONTROLS = {*map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A))}


_CONTROL_NAMES = {"\n": "LINE FEED", "\r": "CARRIAGE RETURN", "\t": "TAB", "\x00": "NUL", "\x1b": "ESCAPE"}


def _name(ch: str) -> str:
    return f"U+{ord(ch):04X} ({unicodedata.name(ch, _CONTROL_NAMES.get(ch, 'a control character'))})"


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be a scenario's free text (None if it can)."""
    for ch in text:
        code = ord(ch)
        if 0xD800 <= code <= 0xDFFF:
            return f"holds a lone surrogate U+{code:04X}, which no file encoding can write"
        if unicodedata.category(ch) == "Cc" and ch not in "\n\t":
            return f"holds a control character {_name(ch)}"
        if ch in _BIDI_CONTROLS:
            return f"holds a text-direction control {_name(ch)}"
    return None


def id_problem(text: str) -> str | None:
    """Why ``text`` cannot be an id (None if it can): free text's rules, plus no invisible character, no
    space but the plain one, Unicode's composed form (NFC) and no formula's first character."""
    problem = text_problem(text)
    if problem:
        return problem
    for ch in text:
        if ch in "\n\t":
            return f"holds a control character {_name(ch)}"
        if unicodedata.category(ch) == "Cf":
            return f"holds an invisible character {_name(ch)}"
        if ch.isspace() and ch != " ":
            return f"holds a space other than the plain one: {_name(ch)}"
    if unicodedata.normalize("NFC", text) != text:
        return "is not in Unicode's composed form (NFC): an accent is stored apart from its letter; retype it"
    if text.startswith(FORMULA_START):
        return f"starts with {text[0]!r}, which a spreadsheet reads as a formula"
    return None


def printable(text: str) -> str:
    """``text`` with control characters, direction controls and lone surrogates shown as escapes
    (``\\x1b``), so that printing it cannot drive the terminal; line breaks and tabs are kept."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch in "\n\t" or not (
            unicodedata.category(ch) in ("Cc", "Cs") or ch in _BIDI_CONTROLS or ch in ("\u2028", "\u2029")
        ):
            out.append(ch)
        else:
            out.append(ch.encode("unicode_escape", "backslashreplace").decode("ascii"))
    return "".join(out)
