"""What text a person may put in an email or a name (so no account can pose as another).

Emails are NFKC-normalized and case-folded *before* uniqueness: ``ＡＮＮ@example.com``,
``Ann@Example.com`` and ``ann@example.com`` are one account. Control characters (NUL,
escapes), format characters (zero-width spaces and joiners, bidi overrides and isolates,
the BOM), surrogates, private-use and unassigned code points are refused outright in both
emails and names: invisible differences are how a second account looks like the first.
Look-alikes across scripts (a Cyrillic "а" for a Latin "a") are not caught; see
docs/security.md.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Callable

#: general categories refused anywhere a person types: Cc control, Cf format (zero-width,
#: bidi), Cs surrogate, Co private use, Cn unassigned, Zl/Zp line and paragraph separators
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+$")
EMAIL_MIN, EMAIL_MAX = 3, 254


def refused_character(text: str) -> str | None:
    """The first refused character as ``U+XXXX`` (for the 422's message), or None."""
    for ch in text:
        if unicodedata.category(ch) in REFUSED_CATEGORIES:
            return f"U+{ord(ch):04X}"
    return None


def normalize_email(raw: str) -> str:
    """The one spelling an email is stored and compared by; ValueError says what is wrong."""
    if (bad := refused_character(raw)) is not None:
        raise ValueError(f"contains an invisible or control character ({bad})")
    email = unicodedata.normalize("NFKC", raw).casefold().strip()
    if (bad := refused_character(email)) is not None:  # NFKC can produce none, but be exact
        raise ValueError(f"contains an invisible or control character ({bad})")
    if not EMAIL_MIN <= len(email) <= EMAIL_MAX:
        raise ValueError(f"must be {EMAIL_MIN} to {EMAIL_MAX} characters")
    if not EMAIL_PATTERN.match(email):
        raise ValueError("must look like name@domain, without spaces")
    return email


def clean_text(min_length: int, max_length: int) -> Callable[[str], str]:
    """A validator for a name or other free text: NFC, trimmed, no invisible or control
    characters, ``min_length`` to ``max_length`` characters once trimmed."""

    def check(raw: str) -> str:
        if (bad := refused_character(raw)) is not None:
            raise ValueError(f"contains an invisible or control character ({bad})")
        text = unicodedata.normalize("NFC", raw).strip()
        if not min_length <= len(text) <= max_length:
            raise ValueError(f"must be {min_length} to {max_length} characters")
        return text

    return check
