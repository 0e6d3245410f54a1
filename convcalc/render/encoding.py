"""The one JSON encoder of every command's output."""

from __future__ import annotations

import json

from convcalc.plain import scalar


def to_json(data: object) -> str:
    """Plain data (dicts, lists, tuples, numbers, text, None) as indented JSON, a line of
    its own: fractions exact, as an int when whole or 'p/q', and formulas as text."""
    return json.dumps(data, indent=2, default=scalar) + "\n"
