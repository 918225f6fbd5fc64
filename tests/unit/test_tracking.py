"""Whose turn is it: the pure rule behind exactly-once, in-order projections."""

from projections.tracking import Turn, turn_of


def test_the_next_sequence_is_applied():
    assert turn_of(0, 1) is Turn.APPLY
    assert turn_of(41, 42) is Turn.APPLY


def test_a_sequence_already_dealt_with_is_a_duplicate():
    assert turn_of(42, 42) is Turn.DUPLICATE
    assert turn_of(42, 7) is Turn.DUPLICATE


def test_a_sequence_beyond_the_next_waits_for_its_turn():
    assert turn_of(0, 2) is Turn.AHEAD
    assert turn_of(41, 100) is Turn.AHEAD
