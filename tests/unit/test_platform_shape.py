"""The tree shows the shape: layers import downwards only (entry points -> services -> projections ->
shared rules -> plumbing -> message contracts), no service imports another's internals, every
service has the same inside layout, and what is derived from the declarations is what is checked
in (contracts, docs tables, NATS permissions)."""

import ast
from pathlib import Path

import pytest

from kit import contracts, docs_tables
from kit.nats_permissions import render_accounts
from kit.streams import commands_filter
from shared.agencies import load_register
from tests.conftest import PLATFORM

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("entrypoints", "services", "projections", "shared", "kit", "events")  # top to bottom


def imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    found = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    found += [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module and n.level == 0]
    return found


def sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", LAYERS[1:], ids=str)
def test_a_layer_imports_nothing_from_the_layers_above_it(package):
    above = LAYERS[:LAYERS.index(package)]
    wrong = [(str(p.relative_to(ROOT)), m) for p in sources(package) for m in imports(p) if m.split(".")[0] in above]
    assert wrong == []


def test_no_service_imports_another_services_modules():
    wrong = []
    for path in sources("services"):
        parts = path.relative_to(ROOT).parts
        if len(parts) < 3:
            continue
        for module in imports(path):
            top = module.split(".")
            if top[0] == "services" and len(top) > 1 and top[1] != parts[1]:
                wrong.append((str(path.relative_to(ROOT)), module))
    assert wrong == []


def test_intake_is_imported_only_by_itself_and_the_entry_points():
    outside = [(str(p.relative_to(ROOT)), m) for package in ("kit", "events", "shared", "projections", "services")
               for p in sources(package) if "services/intake/" not in str(p)
               for m in imports(p) if m.startswith("services.intake")]
    assert outside == []


def test_every_service_has_the_same_inside_layout_and_declares_itself():
    folders = sorted(p.name for p in (ROOT / "services").iterdir() if p.is_dir() and not p.name.startswith("__"))
    assert folders == sorted(s.name for s in PLATFORM.services)
    for service in PLATFORM.services:
        home = ROOT / "services" / service.name
        assert (home / "declaration.py").exists() and (home / "wiring.py").exists(), service.name
        assert service.main == f"services.{service.name}.wiring:main"
        assert callable(service.run())


def test_each_service_with_commands_reads_subjects_no_other_service_reads():
    filters = [commands_filter(s.name) for s in PLATFORM.with_commands]
    assert len(set(filters)) == len(filters)
    assert all(f.split(".")[:3] == ["kit", "commands", s.name] for f, s in zip(filters, PLATFORM.with_commands))
    assert [s.name for s in PLATFORM.services if s.consumes_ingest] == ["gateway"]  # the ingest stream's one reader


def test_every_message_belongs_to_the_service_of_its_context():
    for service in PLATFORM.services:
        assert all(m.context == service.name and m.type_name.startswith(f"kit.{service.name}.")
                   for m in service.messages)


def test_what_is_derived_from_the_declarations_is_what_is_checked_in():
    assert contracts.check(PLATFORM) == []
    from entrypoints.catalogue import docs_tables as catalogue_tables

    assert docs_tables.check(PLATFORM, extra=catalogue_tables()) == []
    accounts = (ROOT / "deploy" / "nats" / "accounts.conf").read_text()
    assert accounts == render_accounts(PLATFORM, load_register().agencies), "run `kit deploy nats-accounts`"
