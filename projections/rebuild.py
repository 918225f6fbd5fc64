"""Rebuild read models from scratch by replaying the integration streams.

    drop the projections' rows and reset their positions   (one transaction)
    read each stream from sequence 1, `page` messages at a time
    apply each page with `apply_in_turn`                    (one transaction per page, positions included)

Because pages commit their positions with their rows, exactly like the live views service does,
the live service may run meanwhile: every one of its transactions locks the projection's position
row first, so it sees either the old state (before the reset) or the rebuild's progress, and the
positions logic turns whatever it holds into duplicates (skipped) or "not yet due" (handed back);
nothing is applied twice. When the rebuild is done the live service continues from there.

Two more things make a concurrent rebuild safe:
- the position rows are reset to 0, never deleted while the rebuild runs: a missing row is not
  locked by `position(...) FOR UPDATE`, and a live transaction that read "no row" would write its
  stale position back over the rebuild's;
- the live durable consumers of the rebuilt projections are paused (a lease, renewed while the
  rebuild runs, so a crashed rebuild lets them go by itself): a message handed back as "not yet
  due" again and again would otherwise pass the consumer's delivery limit and, the moment the
  rebuild's position reached it, be dead-lettered and skipped instead of applied.

A PostgreSQL advisory lock per projection keeps two rebuilds of the same projection apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import logging
import multiprocessing
import multiprocessing.connection
import queue
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta, timezone

import psycopg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from kit.db import ensure_schema
from kit.streams import events_filter, events_stream
from kit.consumer import safe_error
from kit.nats_auth import connect
from kit.page_reader import PageReader, PageReaderError
from projections.integration_event import IntegrationEvent, UnreadableEvent, read_event
from projections.tracking import (SCHEMA, Projection, apply_in_turn, consumer_name, create_positions_table,
                                  skip_in_turn)

log = logging.getLogger("kit.projections.rebuild")

Progress = Callable[[int, int], None]

PAUSE_LEASE = timedelta(seconds=60)
PAUSE_RENEW_AFTER = 15.0  # seconds
PAGE = 5000  # messages a page: read, applied and committed together
FETCH_TIMEOUT = 5.0
FETCH_ATTEMPTS = 3
PAGES_AHEAD = 3  # pages a projection's worker holds ahead of the one it applies
# A rebuild makes millions of short-lived objects without cycles (parsed events, rows); with the
# default thresholds Python's cyclic collector runs over a thousand times, rescanning the
# directory's row cache each time (a tenth of the rebuild's time).
FEW_COLLECTIONS = (50_000, 20, 100)
LOCK_ATTEMPTS = 5


class RebuildError(RuntimeError):
    pass


class RebuildInProgress(RebuildError):
    """Another rebuild holds the projection's advisory lock."""


def rebuild(db_url: str, nats_url: str, projections: Sequence[Projection], sources: Mapping[str, Sequence[str]],
            page: int = PAGE, progress: Progress | None = None) -> dict:
    """Rebuild `projections` from the integration streams of the services each reads (`sources`:
    projection name -> service names); returns events, seconds, events_per_s.

    Runs its own event loop: from async code, call it in a thread (`asyncio.to_thread`).
    """
    with _few_collections():
        return asyncio.run(rebuild_async(db_url, nats_url, projections, sources, page=page, progress=progress))


@contextlib.contextmanager
def _few_collections():
    before = gc.get_threshold()
    gc.set_threshold(*FEW_COLLECTIONS)
    try:
        yield
    finally:
        gc.set_threshold(*before)


async def rebuild_async(db_url: str, nats_url: str, projections: Sequence[Projection],
                        sources: Mapping[str, Sequence[str]], page: int = PAGE, progress: Progress | None = None) -> dict:
    if page < 1:
        raise ValueError("page must be at least 1")
    projections = list({p.name: p for p in projections}.values())
    if not projections:
        return {"events": 0, "seconds": 0.0, "events_per_s": 0.0, "skipped": 0}
    for projection in projections:
        if not _resettable(projection):
            raise RebuildError(f"projection {projection.name} has no reset(conn): cannot rebuild it")
    started = time.perf_counter()
    ensure_schema(db_url, SCHEMA)
    streams = {service: events_stream(service) for p in projections for service in sources.get(p.name, ())}
    async with contextlib.AsyncExitStack() as stack:
        locks = stack.enter_context(psycopg.connect(db_url, autocommit=True))  # closing it releases the locks
        _lock(locks, projections)
        conn = stack.enter_context(psycopg.connect(db_url))  # reset and final flush; pages apply in child processes
        nc = await connect(nats_url, name="kit-rebuild")
        stack.push_async_callback(nc.close)
        js = nc.jetstream()
        totals = {}
        for stream in streams.values():
            try:
                totals[stream] = (await js.stream_info(stream)).state
            except NotFoundError:
                totals[stream] = None
        for stream, state in totals.items():
            if state is not None and state.last_seq > 0 and state.first_seq > 1:
                raise RebuildError(f"{stream} no longer holds sequences 1..{state.first_seq - 1}:"
                                   " the read models cannot be rebuilt from it")
        total = sum(s.last_seq for s in totals.values() if s is not None)  # progress: last_seq at start
        done = skips = 0
        async with _paused(js, projections, sources) as paused:
            await asyncio.to_thread(_reset, conn, projections, list(streams.values()))
            for service, stream in streams.items():
                state = totals[stream]
                if state is None or state.last_seq == 0:
                    continue

                def advanced(n: int, before: int = done) -> None:
                    if progress is not None:
                        progress(before + n, max(total, before + n))  # more if the stream grew meanwhile

                readers = [p for p in projections if service in sources.get(p.name, ())]
                read, skipped = await _replay(nats_url, db_url, js, readers, service, stream, state.last_seq, page,
                                              advanced, paused)
                done += read
                skips += len(skipped)
            await asyncio.to_thread(_flush, conn, projections)
    seconds = time.perf_counter() - started
    return {"events": done, "seconds": round(seconds, 3),
            "events_per_s": round(done / seconds, 1) if seconds > 0 else 0.0, "skipped": skips}


# ---------------------------------------------------------------- PostgreSQL side

def lock_key(projection: str) -> int:
    """A stable signed 64-bit advisory lock key per projection."""
    digest = hashlib.sha256(f"kit.projections.rebuild/{projection}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _lock(conn: psycopg.Connection, projections: Sequence[Projection]) -> None:
    """Session advisory locks, held until `conn` closes."""
    for projection in sorted(projections, key=lambda p: p.name):
        if not conn.execute("SELECT pg_try_advisory_lock(%s)", (lock_key(projection.name),)).fetchone()[0]:
            raise RebuildInProgress(f"projection {projection.name} is being rebuilt by another process")


def _resettable(projection: Projection) -> bool:
    return callable(getattr(projection, "reset", None))


def _reset(conn: psycopg.Connection, projections: Sequence[Projection], streams: list[str]) -> None:
    names = [p.name for p in projections]
    with conn.transaction():
        create_positions_table(conn)
        for projection in projections:
            projection.create_tables(conn)
        # The rows exist (committed) before the reset, so every live transaction locks them.
        conn.execute("INSERT INTO views.positions SELECT p, s, 0 FROM unnest(%s::text[]) p, unnest(%s::text[]) s"
                     " ON CONFLICT DO NOTHING", (names, streams))
    for attempt in range(1, LOCK_ATTEMPTS + 1):
        try:
            with conn.transaction():
                # Positions first, then tables: the order the live transactions lock them in.
                conn.execute("SELECT 1 FROM views.positions WHERE projection = ANY(%s) ORDER BY projection, stream"
                             " FOR UPDATE", (names,))
                for projection in projections:
                    projection.reset(conn)
                conn.execute("DELETE FROM views.positions WHERE projection = ANY(%s) AND stream <> ALL(%s)",
                             (names, streams))
                conn.execute("UPDATE views.positions SET position = 0 WHERE projection = ANY(%s)", (names,))
            return
        except (psycopg.errors.DeadlockDetected, psycopg.errors.LockNotAvailable):
            if attempt == LOCK_ATTEMPTS:
                raise
            log.info("reset of %s met a live transaction; retrying", ", ".join(names))
            time.sleep(0.1 * attempt)


def _read_page(messages: list[tuple[int, bytes]]) -> list[tuple[int, bytes | IntegrationEvent]]:
    """The messages read as events; one that cannot be read stays as it came, for `_apply_page`
    to skip."""
    page: list[tuple[int, bytes | IntegrationEvent]] = []
    for seq, payload in messages:
        try:
            page.append((seq, read_event(payload)))
        except UnreadableEvent:
            page.append((seq, payload))
    return page


def _apply_page(conn: psycopg.Connection, projections: Sequence[Projection], stream: str,
                messages: list[tuple[int, bytes | IntegrationEvent]]) -> list[tuple[int, str]]:
    """Apply a page in one transaction (rows and positions); returns the sequences skipped, each
    with the reason.

    A message that cannot be applied (not a readable integration event, or its effect fails) is
    skipped without effect, as the live service dead-letters and skips it, and the rest of the
    page goes on; trouble with the database itself (connection, deadlock) stops the rebuild.
    """
    try:
        with conn.transaction():
            for projection in projections:
                _check_done(projection, stream, messages, apply_in_turn(conn, projection, stream, messages))
        return []
    except (psycopg.OperationalError, RebuildError):
        raise
    except Exception:  # noqa: BLE001 - find the culprit(s) one message at a time
        pass
    skipped: dict[int, str] = {}
    with conn.transaction():
        for projection in projections:
            for seq, payload in messages:
                try:
                    with conn.transaction():  # a savepoint per message
                        _check_done(projection, stream, [(seq, payload)],
                                    apply_in_turn(conn, projection, stream, [(seq, payload)]))
                except (psycopg.OperationalError, RebuildError):
                    raise
                except Exception as e:  # noqa: BLE001
                    skip_in_turn(conn, projection, stream, seq)
                    skipped[seq] = f"{projection.name}: {safe_error(e)}"
    return sorted(skipped.items())


def _check_done(projection: Projection, stream: str, messages: Sequence[tuple[int, object]], done: list[int]) -> None:
    if len(done) != len(messages):
        missing = sorted({s for s, _ in messages} - set(done))
        raise RebuildError(f"{projection.name}: {stream} has a gap before sequence {missing[0]}")


def _flush(conn: psycopg.Connection, projections: Sequence[Projection]) -> None:
    """A durable commit: it waits for the WAL up to it, so every page committed before is durable too.
    The rows the reset added for a stream still empty go (at 0: nothing applied), as the live
    service, which writes a position only once it applied something, would have it."""
    with conn.transaction():
        conn.execute("SET LOCAL synchronous_commit = on")
        names = [p.name for p in projections]
        conn.execute("DELETE FROM views.positions WHERE projection = ANY(%s) AND position = 0", (names,))
        conn.execute("UPDATE views.positions SET position = position WHERE projection = ANY(%s)", (names,))


# ---------------------------------------------------------------- NATS side

class _paused:
    """Pause the live consumers of the projections for the rebuild, as a lease renewed meanwhile."""

    def __init__(self, js, projections: Sequence[Projection], sources: Mapping[str, Sequence[str]]):
        self.js = js
        self.targets = sorted({(events_stream(service), consumer_name("views", service))
                               for p in projections for service in sources.get(p.name, ())})
        self.paused: list[tuple[str, str]] = []
        self.renewed = 0.0

    async def __aenter__(self) -> "_paused":
        await self.renew(force=True)
        return self

    async def renew(self, force: bool = False) -> None:
        if not force and time.monotonic() - self.renewed < PAUSE_RENEW_AFTER:
            return
        until = (datetime.now(timezone.utc) + PAUSE_LEASE).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        paused = []
        for stream, consumer in self.targets:
            try:
                await self.js.pause_consumer(stream, consumer, until)
                paused.append((stream, consumer))
            except NotFoundError:
                pass  # the live service never ran (or not this consumer): nothing to hold back
            except Exception as e:  # noqa: BLE001 - older servers: the positions logic still holds
                log.warning("could not pause %s on %s (%s); the rebuild goes on", consumer, stream, e)
        self.paused = paused
        self.renewed = time.monotonic()

    async def __aexit__(self, *exc) -> None:
        for stream, consumer in self.paused:
            try:
                await self.js.resume_consumer(stream, consumer)
            except Exception as e:  # noqa: BLE001 - the lease ends by itself
                log.warning("could not resume %s on %s (%s); its pause lease runs out within %s",
                            consumer, stream, e, PAUSE_LEASE)


async def _replay(nats_url: str, db_url: str, js, projections: Sequence[Projection], service: str, stream: str,
                  last_seq: int, page: int, advanced: Callable[[int], None],
                  pause: _paused | None = None) -> tuple[int, list[int]]:
    """Apply the stream from sequence 1 up to `last_seq` and whatever arrived meanwhile; returns
    how many messages were read and the sequences skipped.

    A pipeline of processes, so that the work is spread over the cores (one Python process does
    one thing at a time): a reader takes pages from NATS and hands each to every projection's
    worker, which reads the events and applies them in its own connection and transactions, at its
    own pace (a few pages of slack). This process reports the pages every projection has committed.
    """
    name = f"kit-rebuild-{uuid.uuid4().hex[:12]}"
    await js.add_consumer(stream, ConsumerConfig(
        name=name, filter_subject=events_filter(service), deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.NONE, inactive_threshold=60.0, mem_storage=True, num_replicas=1))
    context = multiprocessing.get_context("spawn")
    processes, reports, feeds, theirs = [], {}, [], []
    try:
        for projection in projections:
            feed_in, feed_out = context.Pipe(duplex=False)
            report_in, report_out = context.Pipe(duplex=False)
            processes.append(context.Process(target=_apply_in_child, name=f"kit-rebuild-{projection.name}",
                                             daemon=True, args=(db_url, projection, stream, feed_in, report_out)))
            feeds.append(feed_out)
            theirs += [feed_in, report_out]
            reports[report_in] = projection.name
        status_in, status_out = context.Pipe(duplex=False)
        processes.append(context.Process(target=_read_in_child, name="kit-rebuild-reader", daemon=True,
                                         args=(nats_url, stream, name, page, last_seq, feeds, status_out)))
        theirs += [*feeds, status_out]
        for process in processes:
            process.start()
        for connection in theirs:
            connection.close()  # the children hold these ends: a child that dies is an end of file here
        applied = {projection.name: 0 for projection in projections}
        skipped: dict[int, str] = {}
        read: int | None = None
        reported = 0
        waiting = [*reports, status_in]
        while waiting:
            for connection in await asyncio.to_thread(multiprocessing.connection.wait, waiting, PAUSE_RENEW_AFTER):
                try:
                    kind, value = connection.recv()
                except EOFError:
                    who = "the reading process" if connection is status_in else f"the {reports[connection]} worker"
                    raise RebuildError(f"{stream}: {who} ended early") from None
                if kind == "error":
                    raise RebuildError(value)
                if connection is status_in:  # ("end", how many were read)
                    read = value
                    waiting.remove(connection)
                elif kind == "applied":
                    count, skips = value
                    applied[reports[connection]] += count
                    for seq, reason in skips:
                        if seq not in skipped:
                            log.warning("%s#%d cannot be applied, skipped as the live service does: %s",
                                        stream, seq, reason)
                        skipped[seq] = reason
                    if min(applied.values()) > reported:  # a page is done when every projection has it
                        reported = min(applied.values())
                        advanced(reported)
                else:  # ("done", None)
                    waiting.remove(connection)
            if pause is not None:
                await pause.renew()
        short = [name for name, count in applied.items() if count != read]
        if short:
            raise RebuildError(f"{stream}: {', '.join(short)} applied fewer messages than were read ({read})")
        return read or 0, sorted(skipped)
    finally:
        for process in processes:
            process.join(timeout=5 if not process.is_alive() else 0.5)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
        try:
            await js.delete_consumer(stream, name)
        except Exception:  # noqa: BLE001 - an ephemeral consumer goes away by itself
            pass


def _apply_in_child(db_url: str, projection: Projection, stream: str, feed, report) -> None:
    """In its own process: read and apply the pages `feed` brings, telling `report` ("applied",
    (messages, [(skipped sequence, reason), …])) after each commit, then ("done", None), or
    ("error", reason). Pages are taken off the pipe by a thread, a few ahead of the one applied."""
    gc.set_threshold(*FEW_COLLECTIONS)
    pages: queue.Queue = queue.Queue(maxsize=PAGES_AHEAD)

    def receive() -> None:
        try:
            while True:
                kind, batch = feed.recv()
                pages.put(batch if kind == "page" else None)
                if kind != "page":
                    return
        except BaseException as e:  # noqa: BLE001 - the applying thread tells the parent
            pages.put(RebuildError(f"the pages stopped coming: {safe_error(e)}"))

    threading.Thread(target=receive, name="kit-rebuild-feed", daemon=True).start()
    try:
        with _page_connection(db_url) as conn:
            while (batch := pages.get()) is not None:
                if isinstance(batch, Exception):
                    raise batch
                skips = _apply_page(conn, [projection], stream, _read_page(batch))
                report.send(("applied", (len(batch), skips)))
        report.send(("done", None))
    except BrokenPipeError:
        pass  # the parent stopped
    except Exception as e:  # noqa: BLE001 - told to the parent, which stops the rebuild
        report.send(("error", f"{projection.name}: {safe_error(e)}"))


@contextlib.contextmanager
def _page_connection(db_url: str):
    with psycopg.connect(db_url) as conn:
        # Like the live service: the rows and positions of a page are rebuilt from the stream if the
        # server loses them; _flush makes the end of the rebuild durable.
        conn.execute("SET synchronous_commit = off")
        conn.commit()
        yield conn


def _read_in_child(nats_url: str, stream: str, consumer: str, page: int, last_seq: int, workers: list,
                   status) -> None:
    """In its own process, so that reading costs the applying process nothing. Sends ("page",
    [(seq, payload), …]) to every worker up to `last_seq` and whatever arrived meanwhile, then
    ("end", None); tells the parent ("end", how many) or ("error", reason)."""
    asyncio.run(_pump(nats_url, stream, consumer, page, last_seq, workers, status))


async def _pump(nats_url: str, stream: str, consumer: str, page: int, last_seq: int, workers: list, status) -> None:
    loop = asyncio.get_running_loop()

    def send_all(message) -> None:  # blocking: flow control, at most a page or two ahead of the slowest
        for worker in workers:
            worker.send(message)

    async def next_page(seq: int) -> tuple[int, list[tuple[int, bytes]], int | None]:
        """The page after `seq`: what is known to be there is waited for, what may have arrived
        meanwhile is asked for without waiting. Returns the size asked for, the messages, and what
        the server still holds."""
        for _ in range(FETCH_ATTEMPTS):
            size = min(page, last_seq - seq) if seq < last_seq else page
            reader.request(stream, consumer, size, FETCH_TIMEOUT if seq < last_seq else None)
            try:
                batch, pending = await asyncio.wait_for(reader.page(size), FETCH_TIMEOUT + 5)
            except asyncio.TimeoutError:
                raise PageReaderError(f"no answer from NATS within {FETCH_TIMEOUT + 5:.0f} s") from None
            if batch or seq >= last_seq:
                return size, batch, pending
        raise PageReaderError(f"nothing to read after sequence {seq} (expected up to {last_seq})")

    try:
        reader = await PageReader.connect(nats_url, name="kit-rebuild-reader")
    except Exception as e:  # noqa: BLE001 - told to the parent, which stops
        status.send(("error", f"the reading process cannot connect to NATS: {safe_error(e)}"))
        return
    try:
        count, seq = 0, 0
        coming = asyncio.create_task(next_page(seq))
        while coming is not None:
            size, batch, pending = await coming
            if batch:
                seq = batch[-1][0]
            more = seq < last_seq or (len(batch) == size and pending != 0)
            # the next page is read (and the server's pings answered) while this one is handed over
            coming = asyncio.create_task(next_page(seq)) if more else None
            if batch:
                await loop.run_in_executor(None, send_all, ("page", batch))
                count += len(batch)
        send_all(("end", None))
        status.send(("end", count))
    except (BrokenPipeError, EOFError):
        pass  # the parent stopped
    except Exception as e:  # noqa: BLE001 - PageReaderError, a broken connection, a bad frame: told to the parent
        status.send(("error", f"{stream}: {safe_error(e)}"))
    finally:
        await reader.close()
