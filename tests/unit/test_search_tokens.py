"""The blind index's tokens (shared/search_tokens.py): normalised words, keyed prefix tokens, and
the SQL condition the caseload adds for a search."""

import re

import pytest

from shared.search_tokens import (MAX_PREFIX, TOKEN_BYTES, index_tokens, normalize, query_tokens, query_words,
                                  search_filter, search_key, words)

PSEUDONYM_KEY = b"k" * 32
NAME = search_key(PSEUDONYM_KEY, "name")
NICK = search_key(PSEUDONYM_KEY, "nickname")


def finds(stored: str, query: str, key: bytes = NAME) -> bool:
    """What the index answers: every query token is among the stored text's tokens."""
    return set(query_tokens(key, query)) <= index_tokens(key, stored) and bool(query_tokens(key, query))


def test_normalising_strips_accents_and_case_and_decomposes_compatibility_forms():
    assert normalize("Giùlia") == "giulia"
    assert normalize("NICOLÒ") == "nicolo"
    assert normalize("Straße") == "strasse"
    assert normalize("ﬁlippo") == "filippo"  # the ligature, decomposed
    assert normalize("İlker") == "ilker"


@pytest.mark.parametrize("query", ["giu", "GIU", "Giù", "giul", "Giulia", "  giulia  "])
def test_a_prefix_of_three_letters_or_more_finds_the_word_whatever_its_case_and_accents(query):
    assert finds("Giulia Rossi", query)


@pytest.mark.parametrize("query", ["iul", "ulia", "gia", "giulian"])
def test_what_is_not_the_start_of_a_word_finds_nothing(query):
    assert not finds("Giulia Rossi", query)


def test_every_word_of_the_query_must_be_found_each_as_the_start_of_some_word():
    assert finds("Maria Giulia Rossi", "ross giu")
    assert finds("Maria Giulia Rossi", "Rossi Maria")
    assert not finds("Maria Giulia Rossi", "ross bian")


def test_a_word_shorter_than_three_letters_is_indexed_whole_and_found_only_whole():
    assert finds("Li Wei", "li") and finds("Li Wei", "Wei")
    assert not finds("Lisa Wei", "li")  # no two-letter prefixes are kept
    assert not finds("Li Wei", "l")


def test_apostrophes_and_hyphens_split_words_and_the_joined_form_is_found_too():
    for query in ("amico", "d'amico", "damico", "D'Am", "dell'acqua", "acqua", "dellacqua", "anna-maria", "annamaria"):
        assert finds("Dell'Acqua D'Amico Anna-Maria", query), query
    assert words("D'Amico") == ["d", "amico", "damico"]


def test_long_words_are_indexed_up_to_twelve_letters_and_longer_queries_are_cut_there():
    long_name = "Hohenzollernberger"
    assert finds(long_name, "hohenzoller") and finds(long_name, long_name)
    assert finds(long_name, "hohenzollernbXXX"[:MAX_PREFIX])
    assert query_words("Hohenzollernberger") == ["hohenzollern"]
    assert len(index_tokens(NAME, long_name)) == MAX_PREFIX - 2  # prefixes of 3..12


def test_tokens_are_keyed_and_separated_by_purpose():
    assert index_tokens(NAME, "Giulia").isdisjoint(index_tokens(NICK, "Giulia"))
    other = search_key(b"o" * 32, "name")
    assert index_tokens(NAME, "Giulia").isdisjoint(index_tokens(other, "Giulia"))
    assert all(len(t) == TOKEN_BYTES for t in index_tokens(NAME, "Giulia"))
    with pytest.raises(ValueError):
        search_key(PSEUDONYM_KEY, "email")  # type: ignore[arg-type]


def test_a_query_holds_one_token_per_distinct_word():
    assert len(query_tokens(NAME, "giu GIU Giù ross")) == 2
    assert query_tokens(NAME, " ' - ") == []


def placeholders(fragment: str) -> set[str]:
    return set(re.findall(r"%\((\w+)\)s", fragment))


def test_the_search_filter_looks_in_names_only_for_roles_that_may_read_identity():
    fragment, params = search_filter(PSEUDONYM_KEY, "Giu ross", identity_allowed=True)
    assert "'name'" in fragment and "'nickname'" in fragment and "y.youth_id" in fragment
    assert placeholders(fragment) == set(params) == {"search_name_tokens", "search_nickname_tokens", "search_words"}
    assert params["search_words"] == 2
    assert params["search_name_tokens"] == query_tokens(NAME, "Giu ross")
    assert params["search_nickname_tokens"] == query_tokens(NICK, "Giu ross")
    assert "%" not in re.sub(r"%\(\w+\)s", "", fragment)  # safe beside the caller's own placeholders

    fragment, params = search_filter(PSEUDONYM_KEY, "Giu ross", identity_allowed=False)
    assert "'name'" not in fragment and set(params) == {"search_nickname_tokens", "search_words"}


def test_a_search_without_words_matches_nothing():
    assert search_filter(PSEUDONYM_KEY, "  -' ", identity_allowed=True) == ("FALSE", {})
