"""A pool checks a connection before lending it, unless it was given back within the window."""
from kit.db import AliveCheck


class Connection:
    autocommit = True

    def __init__(self):
        self.round_trips = 0

    def execute(self, query):
        self.round_trips += 1


def test_a_connection_given_back_a_moment_ago_is_lent_without_a_round_trip():
    now = [100.0]
    alive = AliveCheck(window=0.5, clock=lambda: now[0])
    conn = Connection()
    alive.given_back(conn)
    now[0] += 0.2
    alive.check(conn)
    assert conn.round_trips == 0


def test_a_connection_idle_longer_or_never_given_back_is_checked_with_a_round_trip():
    now = [100.0]
    alive = AliveCheck(window=0.5, clock=lambda: now[0])
    fresh, idle = Connection(), Connection()
    alive.check(fresh)
    alive.given_back(idle)
    now[0] += 0.6
    alive.check(idle)
    assert (fresh.round_trips, idle.round_trips) == (1, 1)
