"""Where a login may send the browser next: a path of this site, nothing else.

The check reads ``next`` as a browser would (WHATWG URL parsing): tabs and
newlines vanish anywhere, spaces and control characters at the ends, and a
backslash counts as a slash. So ``/\\t/host``, ``/\\host`` and `` //host`` are
all the other site ``//host`` to a browser, and are refused here.
"""
from __future__ import annotations

import re
from urllib.parse import quote, unquote, urlsplit

_ENDS = "".join(map(chr, range(0x21)))  # C0 controls and space
_TAB_OR_NEWLINE = re.compile(r"[\t\n\r]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: Characters a path and query keep as they are; everything else is escaped,
#: so the Location header is plain ASCII.
_SAFE = "/?&=%#;:@!$'()*+,~-._"


def safe_next(target: str | None) -> str | None:
    """``target`` as a path of this site, or None if a browser could read it
    as anything else (another host, a scheme such as ``javascript:``)."""
    if not target:
        return None
    url = _as_browser_reads(target)
    # An escaped slash or tab is no link off the site, but no page of this
    # site needs one at the start either: refuse what decodes to a way off.
    if not _is_own_path(url) or not _is_own_path(_as_browser_reads(unquote(url))):
        return None
    return quote(url, safe=_SAFE)


def _as_browser_reads(url: str) -> str:
    return _TAB_OR_NEWLINE.sub("", url.strip(_ENDS)).replace("\\", "/")


def _is_own_path(url: str) -> bool:
    if not url.startswith("/") or url.startswith("//") or _CONTROL.search(url):
        return False
    parts = urlsplit(url)
    return not parts.scheme and not parts.netloc
