"""Spec text made safe to write back: names and values from a spec are data, never markup,
control characters or a message of their own.

Specs come from untrusted pull requests, and what convcalc writes lands in terminals, CI
logs (where a line starting with `::` is a GitHub workflow command) and pull-request
comments. Every format writes spec text through these functions.
"""

from __future__ import annotations

import re

# C0 and C1 control characters, DEL included: each could end a line, move the cursor or
# start an escape sequence. With them, Unicode's line and paragraph separators (U+2028,
# U+2029), which end a line for str.splitlines(), JavaScript and some log viewers; NEL
# (U+0085) is C1. And the bidirectional formatting characters (U+061C, U+200E-U+200F,
# U+202A-U+202E, U+2066-U+2069), which reorder what follows them on screen, so that a
# name could show other text than it holds ("Trojan Source", CVE-2021-42574).
CONTROL = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
SHOWN_CHARACTERS = 60  # a quoted value in a message is cut to about this many characters

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    """`text` with every control character written as an escape (`\\n`, `\\x1b`,
    `\\u2028`)."""
    return CONTROL.sub(lambda match: _NAMED.get(match[0], _escape(match[0])), text)


def _escape(character: str) -> str:
    code = ord(character)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def cut(text: str, limit: int = SHOWN_CHARACTERS) -> str:
    """`text`, cut to `limit` characters with an ellipsis saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[: limit - 1]}…(+{len(text) - limit + 1} characters)"


def shown(value: object) -> str:
    """A value quoted for a message: its repr, cut to about SHOWN_CHARACTERS characters."""
    if isinstance(value, int) and value.bit_length() > 200:
        # The repr of a huge integer is slow, and past 4,300 digits refused by Python.
        return f"a number of about {value.bit_length() * 3 // 10} digits"
    return cut(repr(value))
