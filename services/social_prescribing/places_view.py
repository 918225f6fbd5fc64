"""The directory's free places follow the service's own events: each page of activity-places
events in the log updates the activity's `service_capacity` in the directory (what the HSDS API
and the link workers' searches read), with the time of the newest event as its `updated`."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg

from kit.store import Store
from services.social_prescribing import directory
from services.social_prescribing.aggregates import ActivityPlaces


class PlacesView:
    name = "directory_places"
    topics = (ActivityPlaces.Started.TOPIC, ActivityPlaces.Recorded.TOPIC)

    def __init__(self, store: Store):
        self.store = store

    def create_tables(self, conn: psycopg.Connection) -> None:
        directory.create_tables(conn)

    def apply(self, conn: psycopg.Connection, events: Sequence[object]) -> None:
        touched: dict = {}  # aggregate id -> (activity id, newest version, its time)
        for e in events:
            if isinstance(e, (ActivityPlaces.Started, ActivityPlaces.Recorded)):
                touched[e.originator_id] = (e.data["activity_id"], e.originator_version, e.timestamp)
        for aggregate_id, (activity_id, version, at) in touched.items():
            places = self.store.at_least(aggregate_id, version).state
            directory.set_live_capacity(conn, activity_id, places.available, places.maximum, at)
