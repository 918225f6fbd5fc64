"""Commands in the docs are real: the README's test command is what CI runs, every `kit` command
line in the docs parses, and every file the docs point to exists."""

import re
import shlex
from pathlib import Path

import pytest

from entrypoints.cli import parser

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def code_lines(path: Path) -> list[str]:
    lines, inside = [], False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            inside = not inside
        elif inside:
            lines.append(line.strip())
    return lines


def test_ci_runs_exactly_the_readme_test_command():
    readme = code_lines(ROOT / "README.md")
    test_command = next(line for line in readme if "pytest" in line)
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line and not line.startswith(("#", "set ", "cd "))]
    assert ci == [test_command]


def test_the_readme_run_command_installs_then_starts_the_platform():
    assert "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/kit up" in code_lines(ROOT / "README.md")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_kit_command_in_the_docs_parses(doc: Path):
    commands = []
    for line in code_lines(doc) + re.findall(r"`((?:\.venv/bin/)?kit [^`|]+)`", doc.read_text()):
        for part in re.split(r"&&|\|", line):
            words = shlex.split(part.strip().removeprefix("$(")) if part.strip() else []
            if words and words[0] in ("kit", ".venv/bin/kit"):
                commands.append(words[1:])
    for args in commands:
        if any(a.startswith(("<", "[")) or "|" in a or a in ("A", "R", "U", "P", "N", "ID", "F", "K", "T", "O", "…")
               for a in args):
            continue  # placeholders in the command table
        try:
            parser().parse_args(args)
        except SystemExit as e:
            pytest.fail(f"{doc.name}: `kit {' '.join(args)}` does not parse ({e})")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_files_the_docs_name_exist(doc: Path):
    for name in re.findall(r"`((?:examples|deploy|contracts|docs|tests|kit|services|projections|events|shared|entrypoints)/[\w./-]+)`",
                           doc.read_text()):
        if "<" in name:
            continue
        assert (ROOT / name).exists(), f"{doc.name} names {name}, which does not exist"


def test_every_message_type_is_listed_for_partners():
    from tests.conftest import PLATFORM

    text = (ROOT / "docs" / "contracts.md").read_text()
    assert [t for t in PLATFORM.registry if f"`{t}`" not in text] == []


def test_every_rejection_code_the_runtime_and_the_intake_decisions_use_is_documented():
    text = (ROOT / "docs" / "contracts.md").read_text()
    sources = "".join((ROOT / p).read_text() for p in ("services/intake/decisions.py", "services/intake/handlers.py",
                                                       "services/intake/identity.py", "shared/consent.py",
                                                       "kit/runtime.py", "kit/gateway.py"))
    used = set(re.findall(r'code="([a-z_]+)"', sources)) | set(re.findall(r'reason\("[^"]*", "([a-z_]+)"', sources))
    used -= {"sealed_"}  # sealed_<code> is documented by its two full names
    assert sorted(c for c in used if f"`{c}`" not in text) == []
