"""One page of an OSS listing against a brute-force model: pages follow each other and cover every
key or common prefix once."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_imm.emulator.oss_listing import list_page

SOON = settings(max_examples=60, deadline=None)


def brute_force_page(
    keys: list[str], prefix: str, delimiter: str, after: str, max_keys: int
) -> tuple[list[str], list[str], bool]:
    entries: list[tuple[str, bool]] = []
    for key in sorted(keys):
        if not key.startswith(prefix) or key <= after:
            continue
        cut = key.find(delimiter, len(prefix)) if delimiter else -1
        entry = key[: cut + len(delimiter)] if cut >= 0 else key
        if cut >= 0 and (entry <= after or (entries and entries[-1][0] == entry)):
            continue
        entries.append((entry, cut >= 0))
    page = entries[:max_keys]
    return (
        [e for e, common in page if not common],
        [e for e, common in page if common],
        len(entries) > max_keys,
    )


segments = st.sampled_from(["a", "b", "in", "x.mp4", "sub"])
keys_strategy = st.lists(st.lists(segments, min_size=1, max_size=3).map("/".join), unique=True, max_size=25)


@SOON
@given(
    keys=keys_strategy,
    prefix=st.sampled_from(["", "a", "a/", "in/", "b/s"]),
    delimiter=st.sampled_from(["", "/"]),
    max_keys=st.integers(1, 6),
)
def test_pages_follow_each_other_and_cover_every_key_once(
    keys: list[str], prefix: str, delimiter: str, max_keys: int
) -> None:
    after, seen = "", []
    for _ in itertools.count():
        page = list_page(sorted(keys), prefix=prefix, delimiter=delimiter, after=after, max_keys=max_keys)
        assert (page.keys, page.prefixes, page.truncated) == brute_force_page(
            keys, prefix, delimiter, after, max_keys
        )
        assert len(page.keys) + len(page.prefixes) <= max_keys
        seen += page.keys + page.prefixes
        if not page.truncated:
            break
        after = page.next_marker
    under = [k for k in keys if k.startswith(prefix)]
    rolled = {
        k[: k.find(delimiter, len(prefix)) + 1] if delimiter and delimiter in k[len(prefix) :] else k
        for k in under
    }
    assert sorted(seen) == sorted(rolled) and len(seen) == len(set(seen))
