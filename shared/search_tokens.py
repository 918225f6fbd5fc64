"""Finding a youth by name or nickname without names in clear anywhere: a keyed blind index.

Every word of a name (or of a nickname) is normalised (NFKD, accents stripped, casefolded) and
each of its prefixes from `MIN_PREFIX` to `MAX_PREFIX` characters is indexed as an HMAC token;
a word shorter than `MIN_PREFIX` is indexed whole. A query word gives one token: its own prefix
(cut at `MAX_PREFIX`), so "giu", "GIU" and "Giù" all find "Giulia". Apostrophes and hyphens split
words and the joined form is indexed too ("D'Amico" is "d", "amico" and "damico"); a query word
is looked for joined ("d'am" is "dam").

The tokens are keyed with the platform's pseudonym key (`KIT_PSEUDONYM_KEY`), a separate key per
kind ("name", "nickname") derived from it, so a token of a name never equals a token of the same
text as a nickname, nor any other pseudonym the platform derives from that key. They are the
same for every agency: a youth's name is one across the agencies that may see it, and what a
caller may find is decided by the query the filter is added to (the agency's caseload).

The index, `intake.search_tokens (owner, kind, token)`, is written by the intake service, the one
place the plaintext exists (it holds the vault keys; `services/intake/search_index.py`): names
when identity is recorded, nicknames at outreach; moved to the youth when an engagement is
linked and to the surviving record when youths are merged, deleted when the youth is erased.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from typing import Any, Literal

Kind = Literal["name", "nickname"]
KINDS: tuple[Kind, ...] = ("name", "nickname")
TABLE = "intake.search_tokens"
MIN_PREFIX, MAX_PREFIX = 3, 12
TOKEN_BYTES = 16
MAX_QUERY_WORDS = 8  # a longer query is cut: each word is one more condition
_SEPARATORS = re.compile(r"[^\w]+|_")
DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    owner uuid NOT NULL,   -- the youth (or, before registration, the engagement)
    kind text NOT NULL CHECK (kind IN ('name', 'nickname')),
    token bytea NOT NULL,  -- HMAC of a normalised word prefix
    PRIMARY KEY (owner, kind, token)
);
CREATE INDEX IF NOT EXISTS search_tokens_token ON {TABLE} (kind, token);
"""


def create_table(conn: Any) -> None:
    """The index's table (its schema, `intake`, must exist): intake creates it at start; a test
    of the readers alone may too."""
    conn.execute(DDL)


def search_key(pseudonym_key: bytes, kind: Kind) -> bytes:
    """The key of one kind of token (purpose separation: never the pseudonym key itself)."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind of search token: {kind!r}")
    return hmac.new(pseudonym_key, f"kit/search-index/v1/{kind}".encode(), hashlib.sha256).digest()


def normalize(text: str) -> str:
    """Compatibility-decomposed (NFKD), without accents or other combining marks, casefolded."""
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    return "".join(c for c in folded if not unicodedata.combining(c))


def words(text: str) -> list[str]:
    """The words of a text for the index: each part between separators, and each whitespace-
    separated chunk with its parts joined ("dell'acqua" -> "dell", "acqua", "dellacqua")."""
    found: list[str] = []
    for chunk in normalize(text).split():
        parts = [p for p in _SEPARATORS.split(chunk) if p]
        found += parts
        if len(parts) > 1:
            found.append("".join(parts))
    return list(dict.fromkeys(found))


def _token(key: bytes, prefix: str) -> bytes:
    return hmac.new(key, prefix.encode(), hashlib.sha256).digest()[:TOKEN_BYTES]


def index_tokens(key: bytes, text: str) -> frozenset[bytes]:
    """The tokens to store for a text (`key`: `search_key(pseudonym_key, kind)`)."""
    tokens = set()
    for word in words(text):
        if len(word) < MIN_PREFIX:
            tokens.add(_token(key, word))
        for end in range(MIN_PREFIX, min(len(word), MAX_PREFIX) + 1):
            tokens.add(_token(key, word[:end]))
    return frozenset(tokens)


def query_words(text: str) -> list[str]:
    """The words of a query, each cut at `MAX_PREFIX` (duplicates once; at most `MAX_QUERY_WORDS`).
    A word with apostrophes or hyphens is looked for joined ("d'am" finds "D'Amico" as "dam")."""
    joined = ("".join(_SEPARATORS.split(chunk))[:MAX_PREFIX] for chunk in normalize(text).split())
    return list(dict.fromkeys(word for word in joined if word))[:MAX_QUERY_WORDS]


def query_tokens(key: bytes, text: str) -> list[bytes]:
    """One token per query word: a stored text matches when it holds every one of them.
    A word shorter than `MIN_PREFIX` matches only a word that short (no shorter prefixes are kept)."""
    return list(dict.fromkeys(_token(key, word) for word in query_words(text)))


def search_owners(pseudonym_key: bytes, text: str, *, identity_allowed: bool) -> tuple[str, dict[str, Any]]:
    """A SELECT of the owners (youths or engagements) whose name (only if `identity_allowed`: roles
    with `identity.read`) or nickname holds every word of `text` as the start of one of its words,
    case and accents aside, and its parameters (named, for `%(name)s` placeholders). All the words
    must be found in the same kind (all in the name, or all in the nickname). A text without words
    finds nobody. The parameters' names start with `search_`; the SELECT has no literal `%`."""
    kinds: tuple[Kind, ...] = ("name", "nickname") if identity_allowed else ("nickname",)
    if not query_words(text):
        return "SELECT NULL::uuid WHERE FALSE", {}
    params: dict[str, Any] = {}
    selects = []
    for kind in kinds:
        tokens = query_tokens(search_key(pseudonym_key, kind), text)
        params[f"search_{kind}_tokens"] = tokens
        params["search_words"] = len(tokens)
        selects.append(
            f"SELECT t.owner FROM {TABLE} t WHERE t.kind = '{kind}'"
            f" AND t.token = ANY(%(search_{kind}_tokens)s::bytea[]) GROUP BY t.owner"
            f" HAVING count(*) = %(search_words)s")
    return " UNION ".join(selects), params


def search_filter(pseudonym_key: bytes, text: str, *, identity_allowed: bool) -> tuple[str, dict[str, Any]]:
    """The same as an SQL condition on the youth `y` (a row of `views.youths`): `FALSE` for a
    text without words."""
    if not query_words(text):
        return "FALSE", {}
    owners, params = search_owners(pseudonym_key, text, identity_allowed=identity_allowed)
    return f"(y.youth_id IN ({owners}))", params
