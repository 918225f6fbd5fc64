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


# Property: whatever the server's redelivery schedule, the read model applies 1..N once, in order.

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from projections.tracking import take_turns  # noqa: E402


@st.composite
def delivery_schedules(draw):
    """Fetches of sequences 1..n in any order, with repeats (redeliveries, republishes)."""
    n = draw(st.integers(1, 30))
    fetches = draw(st.lists(st.lists(st.integers(1, n), min_size=1, max_size=10), max_size=40))
    return n, fetches


@settings(max_examples=300, deadline=None)
@given(delivery_schedules())
def test_any_redelivery_schedule_applies_each_sequence_once_in_order(schedule):
    n, fetches = schedule
    position, applied = 0, []
    for messages in fetches:
        apply, done, position = take_turns(position, messages)
        applied += apply
        assert set(done) <= set(messages) and set(apply) <= set(done)
    assert applied == list(range(1, len(applied) + 1))  # never a gap, never twice
    # whatever was handed back is delivered again and then applied
    apply, _, position = take_turns(position, list(range(1, n + 1)))
    assert applied + apply == list(range(1, n + 1)) and position == n
