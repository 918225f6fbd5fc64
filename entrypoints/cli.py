"""The `kit` command."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path

from entrypoints.catalogue import platform
from kit.config import database_url, load_settings, nats_url


def cmd_up(args: argparse.Namespace) -> int:
    from kit.supervisor import Supervisor

    when_up, after_up = None, None
    if args.demo:
        from entrypoints.demo import SEEDING_NOTE as after_up
        from entrypoints.demo import seed_in_background as when_up
    from shared.agencies import load_register

    # the services it starts log at the level it was given (WARNING unless --verbose or KIT_LOG_LEVEL)
    os.environ["KIT_LOG_LEVEL"] = logging.getLevelName(logging.getLogger().getEffectiveLevel())
    agencies = sorted(load_register().agencies)
    return Supervisor(load_settings(), platform(), [sys.executable, "-m", "entrypoints.cli"], agencies, when_up,
                      after_up).run()


def cmd_run(args: argparse.Namespace) -> int:
    import gc

    settings = load_settings()
    declared = platform()
    main = declared.service(args.service).run()
    # A service allocates a few thousand short-lived objects a command and keeps large caches: with
    # the default thresholds the collector walks those caches several times a second. Collect the
    # young generation a hundred times less often, and leave what is loaded at start out of it.
    gc.set_threshold(70_000, 20, 20)
    gc.freeze()

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await main(settings, stop, declared)

    with asyncio.Runner(loop_factory=_loop_factory()) as run:
        run.run(runner())
    return 0


def _loop_factory():
    """uvloop where installed (a faster event loop for the API and the NATS clients), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def cmd_users_add(args: argparse.Namespace) -> int:
    import psycopg

    from shared import accounts
    from shared.agencies import load_register

    known = load_register().agencies
    if args.agency not in known:
        print(f"error: agency {args.agency} is not in the agency register (deploy/policy.toml, or the file "
              f"KIT_POLICY_FILE names); its agencies: {', '.join(sorted(known))}", file=sys.stderr)
        return 2
    with psycopg.connect(database_url(load_settings())) as conn:
        accounts.create_tables(conn)
        try:
            operator = accounts.add_operator(conn, agency=args.agency, role=args.role,
                                              username=args.username, password=args.password)
        except accounts.InvalidOperator as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    print(json.dumps({"id": operator.id, "username": operator.username, "agency": operator.agency,
                      "role": operator.role}))
    return 0


def cmd_users_change(args: argparse.Namespace) -> int:
    """`kit users role|disable|enable`: counts from the account's next request."""
    import psycopg

    from shared import accounts

    disabled = {"disable": True, "enable": False}.get(args.action)
    with psycopg.connect(database_url(load_settings())) as conn:
        accounts.create_tables(conn)
        try:
            accounts.change_account(conn, args.agency, args.username, role=getattr(args, "role", None),
                                     disabled=disabled)
        except accounts.InvalidOperator as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    return cmd_users_list(args)


def cmd_users_list(args: argparse.Namespace) -> int:
    import psycopg

    from shared import accounts

    with psycopg.connect(database_url(load_settings())) as conn:
        accounts.create_tables(conn)
        for account in accounts.list_accounts(conn, args.agency):
            print(json.dumps({"username": account.username, "agency": args.agency, "role": account.role,
                              "disabled": account.disabled}))
    return 0


def cmd_contracts(args: argparse.Namespace) -> int:
    from kit import contracts

    root = Path(args.dir) if args.dir else contracts.CONTRACTS_DIR
    from entrypoints.catalogue import docs_tables as catalogue_tables
    from kit import docs_tables

    if args.action == "generate":
        written = contracts.generate(platform(), root)
        tables = docs_tables.generate(platform(), extra=catalogue_tables()) if not args.dir else []
        print(f"wrote {len(written)} files under {root} and the generated tables of {len(tables)} docs")
        return 0
    problems = contracts.check(platform(), root) + (docs_tables.check(platform(), extra=catalogue_tables())
                                                    if not args.dir else [])
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{len(problems)} contract problem(s); run `kit contracts generate` for additive changes,"
              " add a new version (and an upcaster) for breaking ones", file=sys.stderr)
        return 1
    print("contracts match the code")
    return 0


def cmd_directory_import(args: argparse.Namespace) -> int:
    """Every service of an HSDS 3.0 file into the activity directory, or none (the first bad
    record, named with its JSON path, on standard error)."""
    from datetime import datetime, timezone

    import psycopg

    from services.social_prescribing import directory

    path = Path(args.file)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        print(f"error: cannot read {path}: {e.strerror}", file=sys.stderr)
        return 2
    except ValueError as e:
        print(f"error: nothing imported: {path} is not JSON ({e})", file=sys.stderr)
        return 1
    try:
        with psycopg.connect(database_url(load_settings())) as conn, conn.transaction():
            count = directory.import_records(conn, document, datetime.now(timezone.utc))
    except directory.InvalidDirectory as e:
        print(f"error: nothing imported: {e}", file=sys.stderr)
        return 1
    print(f"imported {count} service{'s' if count != 1 else ''} into the activity directory")
    return 0


def cmd_directory_export(args: argparse.Namespace) -> int:
    """The whole directory as an HSDS 3.0 file (a list of fully nested services), which imports back unchanged."""
    import psycopg

    from services.social_prescribing import directory

    with psycopg.connect(database_url(load_settings())) as conn:
        text = json.dumps(directory.export(conn), ensure_ascii=False, indent=2, default=str) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def cmd_deploy_nats_accounts(args: argparse.Namespace) -> int:
    """NATS users and permissions from the declared services and the agency register."""
    from kit.nats_permissions import render_accounts
    from shared.agencies import load_register

    text = render_accounts(platform(), load_register().agencies)
    if args.check:
        current = Path(args.out).read_text() if Path(args.out).exists() else ""
        if current != text:
            print(f"{args.out} differs from the declarations and the register: run `kit deploy nats-accounts`",
                  file=sys.stderr)
            return 1
        print(f"{args.out} matches the declarations and the register")
        return 0
    Path(args.out).write_text(text)
    print(f"wrote {args.out}")
    return 0


def cmd_nats_url(args: argparse.Namespace) -> int:
    """The embedded NATS server's URL for one of its users, with the password (`kit up` made them)."""
    from kit.config import embedded_nats_url
    from kit.nats_auth import password_of, with_user

    settings = load_settings()
    if settings.nats_url:
        print("KIT_NATS_URL is configured: the NATS users and passwords are those of your deployment",
              file=sys.stderr)
        return 2
    try:
        print(with_user(embedded_nats_url(settings), args.user, password_of(settings.data_dir, args.user)))
    except LookupError as e:
        print(e, file=sys.stderr)
        return 2
    return 0


def cmd_keys_public(args: argparse.Namespace) -> int:
    """The platform's ingest public key: partners seal identity with it (kit.vault.seal)."""
    from kit.keys import ingest_private_key, ingest_public_key

    print(ingest_public_key(ingest_private_key(load_settings().data_dir, create=False)))
    return 0


def _audit_conn():
    import psycopg

    return psycopg.connect(database_url(load_settings()))


def _public_key(args: argparse.Namespace) -> str:
    from kit.checkpoints import public_key_of
    from kit.keys import audit_signing_key

    return getattr(args, "public_key", None) or public_key_of(audit_signing_key(load_settings().data_dir, create=False))


def cmd_audit_verify(args: argparse.Namespace) -> int:
    """The log against its signed checkpoints; then (whole log, unless --log-only) against its
    sources: every integration event and every access-log row in it exactly once."""
    from kit.nats_auth import ADMIN_USER
    from services.audit.completeness import verify_sources
    from services.audit.verify import verify_log, verify_youth

    public_key = _public_key(args)
    with _audit_conn() as conn:
        report = verify_youth(conn, args.youth, public_key) if args.youth else verify_log(conn, public_key)
    result = report.to_json()
    if report.ok and not args.youth and not args.log_only:
        settings = load_settings()
        sources = verify_sources(database_url(settings), nats_url(settings, ADMIN_USER),
                                 [s.name for s in platform().with_events])
        result |= {"ok": sources.problem is None, "sources": sources.to_json()}
        if sources.problem:
            result["problem"] = sources.problem
    print(json.dumps(result, indent=2))
    return 0 if result["ok"] else 1


def cmd_audit_checkpoint(args: argparse.Namespace) -> int:
    from kit.keys import audit_signing_key
    from services.audit.checkpointing import make_checkpoint

    settings = load_settings()
    signed = make_checkpoint(database_url(settings), audit_signing_key(settings.data_dir, create=False), force=True)
    print(json.dumps(signed.to_json() if signed else {"size": 0, "detail": "the log is empty"}, indent=2))
    return 0


def cmd_audit_public_key(args: argparse.Namespace) -> int:
    print(_public_key(args))
    return 0


def cmd_audit_replay(args: argparse.Namespace) -> int:
    from datetime import datetime, timezone

    from kit.keys import master_keys
    from kit.vault import VaultKeys
    from services.audit.replay import path, state_at

    settings = load_settings()
    keys = VaultKeys(database_url(settings), master_keys(settings.data_dir, create=False))
    with _audit_conn() as conn:
        if args.at:
            at = datetime.fromisoformat(args.at)
            result = state_at(conn, args.youth, at if at.tzinfo else at.replace(tzinfo=timezone.utc), platform())
        else:
            result = path(conn, args.youth, lambda owner: keys.get(owner) is not None)
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0 if result else 1


def cmd_audit_export(args: argparse.Namespace) -> int:
    from services.audit.bundle import make_bundle
    from services.audit.checkpointing import latest
    from services.audit.verify import prove_youth

    with _audit_conn() as conn:
        signed = latest(conn)
        if signed is None:
            print("error: no signed checkpoint yet (kit audit checkpoint)", file=sys.stderr)
            return 1
        proven = prove_youth(conn, args.youth, signed)
    if isinstance(proven, str):
        print(f"error: {proven}", file=sys.stderr)
        return 1
    text = json.dumps(make_bundle(args.youth, signed, proven), indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n")
    else:
        print(text)
    return 0


def cmd_audit_verify_bundle(args: argparse.Namespace) -> int:
    """Offline: only the bundle file and the public key."""
    from services.audit.bundle import verify_bundle

    bundle = json.loads(Path(args.bundle).read_text())
    problems = verify_bundle(bundle, args.public_key)
    print(json.dumps({"ok": not problems, "entries": len(bundle.get("entries", [])), "problems": problems}, indent=2))
    return 0 if not problems else 1


def cmd_audit_access(args: argparse.Namespace) -> int:
    from datetime import datetime

    from shared.access_log import query, to_csv

    with _audit_conn() as conn:
        rows = query(conn, youth_id=args.youth, operator=args.operator, agency=args.agency, purpose=args.purpose,
                     since=datetime.fromisoformat(args.since) if args.since else None,
                     until=datetime.fromisoformat(args.until) if args.until else None)
    print(to_csv(rows) if args.format == "csv" else json.dumps(rows, indent=2), end="")
    return 0


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    """A new current master key; every youth's data key is rewrapped with it (history untouched)."""
    import os

    from kit.keys import add_master_key, master_keys
    from kit.vault import VaultKeys

    settings = load_settings()
    if os.environ.get("KIT_MASTER_KEYS"):
        print("error: KIT_MASTER_KEYS is set: prepend a new 'id:key' entry there, restart, then run this again"
              " with --rewrap-only", file=sys.stderr)
        if not args.rewrap_only:
            return 2
    elif not args.rewrap_only:
        print(f"new current master key: {add_master_key(settings.data_dir)}")
    keys = VaultKeys(database_url(settings), master_keys(settings.data_dir, create=False))
    keys.create_table()
    print(f"rewrapped {keys.rotate()} youth keys with the current master key")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from entrypoints.bench_ingest import run_ingest_bench

    result = asyncio.run(run_ingest_bench(messages=args.messages, rate=args.rate, latency_seconds=args.seconds,
                                          warm=args.warm))
    print(json.dumps(result, indent=2))
    return 0


def cmd_bench_audit(args: argparse.Namespace) -> int:
    from entrypoints.bench_audit import run_audit_bench

    result = run_audit_bench(entries=args.entries, youth_events=args.youth_events)
    print(json.dumps(result, indent=2))
    return 0


def cmd_bench_views(args: argparse.Namespace) -> int:
    from entrypoints.bench_views import run_views_bench

    result = run_views_bench(events=args.events, clients=args.clients, seconds=args.seconds)
    print(json.dumps(result, indent=2))
    return 0


def cmd_projections_rebuild(args: argparse.Namespace) -> int:
    """Rebuild read models from the integration streams (the live views service may keep running)."""
    from kit.config import nats_url
    from projections.rebuild import PAGE, RebuildError, rebuild

    declared = platform()
    by_name = {p.name: p for p in declared.projections}
    unknown = [name for name in args.names if name not in by_name]
    if unknown:
        print(f"error: unknown projection(s) {', '.join(unknown)}; choose from {', '.join(by_name)}", file=sys.stderr)
        return 2
    chosen = [by_name[name] for name in dict.fromkeys(args.names)] or list(declared.projections)

    def bar(done: int, total: int, width: int = 30) -> None:
        filled = width if total <= 0 else min(width, width * done // total)
        print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,} events", end="", file=sys.stderr,
              flush=True)

    settings = load_settings()
    try:
        result = rebuild(database_url(settings), nats_url(settings, "svc-views"), chosen,
                         {p.name: [s.name for s in declared.sources_of(p)] for p in chosen},
                         page=PAGE if args.page is None else args.page, progress=bar)
    except RebuildError as e:
        print(f"\nerror: {e}", file=sys.stderr)
        return 1
    print(file=sys.stderr)
    print(json.dumps({"projections": [p.name for p in chosen], **result}))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kit", description="KiT integrated services platform")
    sub = p.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="start NATS, PostgreSQL (embedded unless configured), every service and the API")
    up.add_argument("--demo", action="store_true",
                    help="once the API answers, seed synthetic demo youths and operators (KIT_DEMO_YOUTHS, default 300)")
    up.add_argument("--verbose", action="store_true",
                    help="show the servers' setup and the services' logs (INFO; KIT_LOG_LEVEL=DEBUG for more)")
    up.set_defaults(func=cmd_up)

    run = sub.add_parser("run", help="run one service in the foreground")
    run.add_argument("service", choices=[s.name for s in platform().services])
    run.set_defaults(func=cmd_run)

    users = sub.add_parser("users", help="operator accounts").add_subparsers(dest="action", required=True)
    add = users.add_parser("add", help="create an operator")
    add.add_argument("--agency", required=True)
    add.add_argument("--role", required=True)
    add.add_argument("--username", required=True)
    add.add_argument("--password", required=True)
    add.set_defaults(func=cmd_users_add)
    listing = users.add_parser("list", help="an agency's accounts (JSON lines)")
    listing.add_argument("--agency", required=True)
    listing.set_defaults(func=cmd_users_list)
    role = users.add_parser("role", help="give an account another role (from its next request)")
    disable = users.add_parser("disable", help="disable an account (its tokens stop at their next request)")
    enable = users.add_parser("enable", help="enable a disabled account again")
    for change in (role, disable, enable):
        change.add_argument("--agency", required=True)
        change.add_argument("--username", required=True)
        change.set_defaults(func=cmd_users_change)
    role.add_argument("--role", required=True)

    deploy = sub.add_parser("deploy", help="deployment files derived from the declarations").add_subparsers(
        dest="action", required=True)
    accounts = deploy.add_parser("nats-accounts", help="NATS users and permissions of every service and agency")
    accounts.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "deploy" / "nats" / "accounts.conf"))
    accounts.add_argument("--check", action="store_true", help="fail if the file differs instead of writing it")
    accounts.set_defaults(func=cmd_deploy_nats_accounts)

    nats_cmd = sub.add_parser("nats", help="the embedded NATS server").add_subparsers(dest="action", required=True)
    url = nats_cmd.add_parser("url", help="the URL (with password) of one of its users: admin, svc-<service>, "
                                          "agency-<agency>")
    url.add_argument("--user", default="admin")
    url.set_defaults(func=cmd_nats_url)

    keys = sub.add_parser("keys", help="platform keys").add_subparsers(dest="action", required=True)
    keys.add_parser("public", help="print the public key partners seal identity with").set_defaults(
        func=cmd_keys_public)

    rotate = keys.add_parser("rotate-master", help="add a new current master key and rewrap every youth key")
    rotate.add_argument("--rewrap-only", action="store_true", help="only rewrap with the current key")
    rotate.set_defaults(func=cmd_keys_rotate)

    audit = sub.add_parser("audit", help="the tamper-evident audit log").add_subparsers(dest="action", required=True)
    verify = audit.add_parser("verify", help="re-derive the whole log (or one youth's path) and check every checkpoint")
    verify.add_argument("--youth", help="check one youth's entries against the latest checkpoint")
    verify.add_argument("--public-key", help="the log's public key, written --public-key=KEY "
                        "(a key may begin with '-'); default: this installation's")
    verify.add_argument("--log-only", action="store_true",
                        help="skip the check against the sources (the integration streams and the access log)")
    verify.set_defaults(func=cmd_audit_verify)
    audit.add_parser("checkpoint", help="sign the current tree head now").set_defaults(func=cmd_audit_checkpoint)
    audit.add_parser("public-key", help="print the key checkpoints are signed with").set_defaults(
        func=cmd_audit_public_key)
    replay = audit.add_parser("replay", help="a youth's whole path, or the case state at an instant (--at)")
    replay.add_argument("--youth", required=True)
    replay.add_argument("--at", help="ISO 8601 instant, e.g. 2026-11-20T12:00:00+01:00")
    replay.set_defaults(func=cmd_audit_replay)
    export = audit.add_parser("export", help="a signed bundle of a youth's path with inclusion proofs")
    export.add_argument("--youth", required=True)
    export.add_argument("--out", help="file to write (default: stdout)")
    export.set_defaults(func=cmd_audit_export)
    offline = audit.add_parser("verify-bundle", help="check a bundle offline with only the public key")
    offline.add_argument("bundle")
    offline.add_argument("--public-key", required=True,
                         help="the log's public key, written --public-key=KEY (a key may begin with '-')")
    offline.set_defaults(func=cmd_audit_verify_bundle)
    access = audit.add_parser("access", help="access-log queries: who read a youth, what an operator read")
    access.add_argument("--youth")
    access.add_argument("--operator", help="operator id or username")
    access.add_argument("--agency", help="the reading operator's agency code")
    access.add_argument("--purpose", help="e.g. case_management, audit")
    access.add_argument("--since")
    access.add_argument("--until")
    access.add_argument("--format", choices=["json", "csv"], default="json")
    access.set_defaults(func=cmd_audit_access)

    directory_cmd = sub.add_parser("directory", help="the social prescribing activity directory (Open Referral"
                                   " HSDS 3.0)").add_subparsers(dest="action", required=True)
    directory_import = directory_cmd.add_parser("import", help="import an HSDS 3.0 file of services: all of it,"
                                                " or nothing if any record fails its schema")
    directory_import.add_argument("file", metavar="FILE", help="a JSON list of HSDS services, or an HSDS page")
    directory_import.set_defaults(func=cmd_directory_import)
    directory_export = directory_cmd.add_parser("export", help="the whole directory as an HSDS 3.0 file")
    directory_export.add_argument("--output", metavar="FILE", help="write here instead of standard output")
    directory_export.set_defaults(func=cmd_directory_export)

    contracts = sub.add_parser("contracts", help="generate or check contracts/ against events/")
    contracts.add_argument("action", choices=["generate", "check"])
    contracts.add_argument("--dir", help="contracts directory (default: the repository's contracts/)")
    contracts.set_defaults(func=cmd_contracts)

    projections = sub.add_parser("projections", help="read models").add_subparsers(dest="action", required=True)
    rebuild = projections.add_parser("rebuild", help="rebuild read models from scratch from the integration streams")
    rebuild.add_argument("names", nargs="*", metavar="NAME",
                         help="projections to rebuild (youth_directory, timeline); none = all")
    rebuild.add_argument("--page", type=int, help="messages per page, one transaction each (default 5000)")
    rebuild.set_defaults(func=cmd_projections_rebuild)

    bench = sub.add_parser("bench", help="benchmarks that print JSON figures")
    bench_sub = bench.add_subparsers(dest="bench", required=True)
    ingest = bench_sub.add_parser("ingest", help="partners' commands -> what operators see, on the whole platform,"
                                  " with a same-run event-store baseline")
    ingest.add_argument("--messages", type=int, default=20000, help="commands of the throughput run")
    ingest.add_argument("--rate", type=int, default=500, help="steady rate (messages/s) of the latency run")
    ingest.add_argument("--seconds", type=float, default=20, help="duration of each latency run (at --rate and at 50/s)")
    ingest.add_argument("--warm", type=int, default=1000, help="youths registered first, for the commands about them")
    ingest.set_defaults(func=cmd_bench)
    bench_audit = bench_sub.add_parser("audit", help="audit log verification and replay, with a same-run baseline")
    bench_audit.add_argument("--entries", type=int, default=200000, help="log size")
    bench_audit.add_argument("--youth-events", type=int, default=200,
                             help="events of the replayed youth, spread through the log")
    bench_audit.set_defaults(func=cmd_bench_audit)
    bench_views = bench_sub.add_parser("views", help="projection rebuild and API reads under load, with a same-run"
                                       " baseline")
    bench_views.add_argument("--events", type=int, default=200000, help="integration events in the stream")
    bench_views.add_argument("--clients", type=int, default=20, help="concurrent API clients")
    bench_views.add_argument("--seconds", type=float, default=20, help="duration of each load run (caseload, timeline)")
    bench_views.set_defaults(func=cmd_bench_views)
    return p


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def log_level(args: argparse.Namespace) -> int:
    """KIT_LOG_LEVEL if set; else `kit up` is quiet (WARNING: errors and warnings only) unless
    --verbose, and every other command (a service run on its own included) logs at INFO."""
    named = os.environ.get("KIT_LOG_LEVEL", "").strip().upper()
    if named:
        if named not in LOG_LEVELS:
            raise SystemExit(f"error: KIT_LOG_LEVEL={named} is not one of {', '.join(LOG_LEVELS)}")
        return getattr(logging, named)
    if args.command == "up" and not args.verbose:
        return logging.WARNING
    return logging.INFO


def configure_logging(level: int) -> None:
    """One console handler at `level`: a logger that writes more to its own file (the embedded
    PostgreSQL's setup log) shows only this much here."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.setLevel(level)
    for service in platform().services:
        logging.getLogger(f"kit.{service.name}.broker").setLevel(max(level, logging.WARNING))


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    configure_logging(log_level(args))
    try:
        return args.func(args)
    except Exception as e:  # what an operator can act on, instead of a traceback
        message = friendly(e)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 2


def friendly(error: Exception) -> str | None:
    """The errors a command meets when pointed at the wrong place, said with where it looked."""
    import psycopg

    from kit.keys import MissingKey

    settings = load_settings()
    if isinstance(error, MissingKey):
        return str(error)
    if isinstance(error, psycopg.OperationalError):
        where = "KIT_DATABASE_URL" if settings.database_url else f"the embedded PostgreSQL in {settings.data_dir}"
        return (f"cannot reach PostgreSQL ({where}): is the platform running (`kit up`), and is KIT_DATA_DIR "
                "(or KIT_DATABASE_URL) its own?")
    if isinstance(error, LookupError) and "NATS user" in str(error):
        return str(error)
    return None


if __name__ == "__main__":
    sys.exit(main())
