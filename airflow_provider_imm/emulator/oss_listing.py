"""One page of an OSS listing (ListObjects, ListObjectsV2): pure, linear in the keys it reads."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

#: OSS's bounds for ``max-keys`` (1-1000; 100 when absent).
MAX_KEYS = 1000
DEFAULT_MAX_KEYS = 100


@dataclass(frozen=True)
class ListPage:
    keys: list[str]
    #: Common prefixes (``<prefix>...<delimiter>``), each standing for every key under it.
    prefixes: list[str]
    truncated: bool
    #: Where the next page starts (the last key or common prefix of this one), "" when not truncated.
    next_marker: str


def list_page(
    keys: Iterable[str], *, prefix: str = "", delimiter: str = "", after: str = "", max_keys: int
) -> ListPage:
    """The page of ``keys`` (in lexical order) under ``prefix`` that follows ``after``.

    With a ``delimiter``, keys sharing ``<prefix>...<delimiter>`` are rolled into one common prefix,
    counted once against ``max_keys``; a common prefix at or before ``after`` (the marker of a page
    that ended on it) is not returned again.
    """
    found: list[str] = []
    prefixes: list[str] = []
    last = ""
    for key in keys:
        if key <= after or not key.startswith(prefix):
            continue
        entry = key
        if delimiter:
            cut = key.find(delimiter, len(prefix))
            if cut >= 0:
                entry = key[: cut + len(delimiter)]
                if entry <= after or entry == last:
                    continue
        if len(found) + len(prefixes) == max_keys:
            return ListPage(found, prefixes, True, last)
        (prefixes if entry != key else found).append(entry)
        last = entry
    return ListPage(found, prefixes, False, "")
