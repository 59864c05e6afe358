"""MNS's rule for queue, topic and subscription names, for the hooks and the emulator alike.

MNS has documented two rules: the CreateQueue page of 2019 (doc-detail/35129) says letters, digits
and hyphens, first a letter, at most 256 characters; its current page says letters, digits and
hyphens, first a letter or digit, at most 120. The hooks accept a name either rule allows
(:func:`is_mns_name`), so no name MNS may take is refused before the call; the emulator follows the
2019 rule (:func:`is_2019_mns_name`). Under both, no path or query character (``../x``, ``a?b=1``,
NUL) can reach a request line.
"""

from __future__ import annotations

import re

__all__ = ["MNS_NAME_RULE", "MNS_NAME_RULE_2019", "is_2019_mns_name", "is_mns_name"]

#: What :func:`is_mns_name` accepts, as error messages word it.
MNS_NAME_RULE = "letters, digits and hyphens, starting with a letter or digit, at most 256 characters"
#: What :func:`is_2019_mns_name` accepts, as error messages word it.
MNS_NAME_RULE_2019 = "letters, digits and hyphens, starting with a letter, at most 256 characters"
_EITHER_RULE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,255}")
_RULE_2019 = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,255}")


def is_mns_name(name: str) -> bool:
    """True when either documented rule allows ``name``."""
    return _EITHER_RULE.fullmatch(name) is not None


def is_2019_mns_name(name: str) -> bool:
    """True when the 2019 rule allows ``name`` (the emulator's)."""
    return _RULE_2019.fullmatch(name) is not None
