"""The `kit` command."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from pathlib import Path

from kit.config import database_url, load_settings


def cmd_up(args: argparse.Namespace) -> int:
    from kit.supervisor import Supervisor

    return Supervisor(load_settings()).run()


def cmd_run(args: argparse.Namespace) -> int:
    from kit.services import entry_point

    settings = load_settings()
    main = entry_point(args.service)

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await main(settings, stop)

    asyncio.run(runner())
    return 0


def cmd_users_add(args: argparse.Namespace) -> int:
    import psycopg

    from services.api import operators

    with psycopg.connect(database_url(load_settings())) as conn:
        operators.create_tables(conn)
        try:
            operator = operators.add_operator(conn, agency=args.agency, role=args.role,
                                              username=args.username, password=args.password)
        except operators.InvalidOperator as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    print(json.dumps({"id": operator.id, "username": operator.username, "agency": operator.agency,
                      "role": operator.role}))
    return 0


def cmd_contracts(args: argparse.Namespace) -> int:
    from kit import contracts

    root = Path(args.dir) if args.dir else contracts.CONTRACTS_DIR
    if args.action == "generate":
        written = contracts.generate(root)
        print(f"wrote {len(written)} files under {root}")
        return 0
    problems = contracts.check(root)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{len(problems)} contract problem(s); run `kit contracts generate` for additive changes,"
              " add a new version (and an upcaster) for breaking ones", file=sys.stderr)
        return 1
    print("contracts match the code")
    return 0


def cmd_keys_public(args: argparse.Namespace) -> int:
    """The platform's ingest public key: partners seal identity with it (kit.vault.seal)."""
    from kit.keys import ingest_private_key, ingest_public_key

    print(ingest_public_key(ingest_private_key(load_settings().data_dir)))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from kit.bench import run_ingest_bench

    result = asyncio.run(run_ingest_bench(events=args.events, rate=args.rate))
    print(json.dumps(result, indent=2))
    return 0


def parser() -> argparse.ArgumentParser:
    from kit.services import SERVICES

    p = argparse.ArgumentParser(prog="kit", description="KiT integrated services platform")
    sub = p.add_subparsers(dest="command", required=True)

    sub.add_parser("up", help="start NATS, PostgreSQL (embedded unless configured), every service and the API"
                   ).set_defaults(func=cmd_up)

    run = sub.add_parser("run", help="run one service in the foreground")
    run.add_argument("service", choices=sorted(SERVICES))
    run.set_defaults(func=cmd_run)

    users = sub.add_parser("users", help="operator accounts").add_subparsers(dest="action", required=True)
    add = users.add_parser("add", help="create an operator")
    add.add_argument("--agency", required=True)
    add.add_argument("--role", required=True)
    add.add_argument("--username", required=True)
    add.add_argument("--password", required=True)
    add.set_defaults(func=cmd_users_add)

    keys = sub.add_parser("keys", help="platform keys").add_subparsers(dest="action", required=True)
    keys.add_parser("public", help="print the public key partners seal identity with").set_defaults(
        func=cmd_keys_public)

    contracts = sub.add_parser("contracts", help="generate or check contracts/ against events/")
    contracts.add_argument("action", choices=["generate", "check"])
    contracts.add_argument("--dir", help="contracts directory (default: the repository's contracts/)")
    contracts.set_defaults(func=cmd_contracts)

    bench = sub.add_parser("bench", help="benchmarks that print JSON figures")
    bench_sub = bench.add_subparsers(dest="bench", required=True)
    ingest = bench_sub.add_parser("ingest", help="partner publish -> projection, with same-run baselines")
    ingest.add_argument("--events", type=int, default=20000)
    ingest.add_argument("--rate", type=int, default=500, help="steady rate (events/s) for the latency run")
    ingest.set_defaults(func=cmd_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kit.intake.broker").setLevel(logging.WARNING)
    logging.getLogger("kit.views.broker").setLevel(logging.WARNING)
    args = parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
