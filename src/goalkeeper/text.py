"""Text that came from outside, made safe to show on a terminal or in a line of log."""

from __future__ import annotations

# C0 controls, DEL and C1 controls, each as its visible escape
_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}


def visible(text: str) -> str:
    """``text`` with every control character shown as ``\\xNN``: a newline cannot start a
    forged log line, an escape sequence cannot recolour or relink a terminal."""
    return text if text.isprintable() else text.translate(_CONTROL)


def quoted(text: str, limit: int = 64) -> str:
    """``text`` quoted for an error message, cut to ``limit`` characters: a message
    never echoes a whole hostile value back."""
    return repr(text if len(text) <= limit else text[:limit] + "...")
