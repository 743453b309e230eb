"""Text that every report format accepts.

Test output is hostile: ANSI colour codes, NUL and other control characters,
lone surrogates, megabytes of traceback. XML 1.0 (junit, xlsx) rejects most
control characters outright, so every report passes its text through here.
"""
from __future__ import annotations

import re

__all__ = ["ANSI", "INVISIBLE", "clean", "cap"]

#: CSI and OSC escape sequences (colours, cursor moves, titles).
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-_]")
#: What XML 1.0 does not allow: C0 controls but tab, newline and carriage
#: return; lone surrogates; U+FFFE and U+FFFF.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
#: Invisible characters that change how the text around them reads: bidi
#: controls (U+202E shows a line reversed), zero-width characters, the BOM.
INVISIBLE = re.compile("[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069"
                       "\ufeff]")


def clean(text: object) -> str:
    """``text`` as a string with ANSI codes removed, characters XML cannot
    hold replaced by U+FFFD (so it shows that something was there), and
    invisible controls shown escaped (``\\u202e``), so every report reads
    the text as it is."""
    if isinstance(text, str) and text.isascii() and text.isprintable():
        return text  # most names and paths: nothing to remove (and it is cheap)
    text = _NOT_XML.sub("\ufffd", ANSI.sub("", str(text)))
    return INVISIBLE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def cap(text: str, limit: int, *, keep: str = "end") -> str:
    """``text`` cut to ``limit`` characters, saying how much was cut; ``keep``
    the ``"end"`` (logs: the last lines matter) or the ``"start"``."""
    if len(text) <= limit:
        return text
    cut = len(text) - limit
    if keep == "start":
        return f"{text[:limit]}\n[... {cut} more characters cut ...]"
    return f"[... {cut} characters cut ...]\n{text[-limit:]}"
