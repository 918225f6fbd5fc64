"""The tables in `docs/` that describe the declared services and their messages, generated from the
declarations: `kit contracts generate` rewrites them, `kit contracts check` reports a stale one.

A generated table sits between `<!-- generated: <name> -->` and `<!-- end generated -->` lines; the
prose around it is written by hand.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path

from kit.service import Platform, Service
from kit.streams import COMMANDS_STREAM, commands_filter, events_filter, events_stream

DOCS_DIR = Path(__file__).resolve().parent.parent / "docs"
END = "<!-- end generated -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def types_table(platform: Platform) -> str:
    rows = ["| type | service | kind | classification | from → to: what |", "|---|---|---|---|---|"]
    for service in platform.services:
        for model in service.messages:
            if model.kind == "command":
                route = ("partner/operator → " + service.name) if getattr(model, "from_partners", True) \
                    else "platform scheduler"
            else:
                route = f"{service.name} → subscribers"
            rows.append(f"| `{model.type_name}` | {service.name} | {model.kind} | {model.classification} | "
                        f"{route}: {_cell(model.summary)} |")
    return "\n".join(rows)


def _reads(service: Service) -> str:
    parts = []
    if service.commands:
        parts.append(f"`{commands_filter(service.name)}` ({COMMANDS_STREAM})")
    if service.consumes_ingest:
        parts.append("`kit.ingest.>` (KIT_INGEST)")
    if service.consumes_events:
        parts.append("every `kit.events.<service>.>`")
    return ", ".join(parts) or "—"


def _writes(service: Service) -> str:
    parts = []
    if service.events:
        parts.append(f"`{events_filter(service.name)}` ({events_stream(service.name)})")
    if service.commands:
        parts.append("`kit.receipts.<agency>`")
    if service.sends_commands:
        parts.append("`kit.commands.<service>.<agency>`")
    parts += [f"`{subject}`" for subject in service.grants.publish]
    return ", ".join(parts) or "—"


def services_table(platform: Platform) -> str:
    rows = ["| service | what | reads | publishes | schema | read models it feeds |", "|---|---|---|---|---|---|"]
    for s in platform.services:
        projections = ", ".join(f"`{p.name}`" for p in s.projections) or "—"
        rows.append(f"| `{s.name}` | {_cell(s.summary)} | {_reads(s)} | {_writes(s)} | "
                    f"{f'`{s.schema}`' if s.schema else '—'} | {projections} |")
    return "\n".join(rows)


def shared_reads_table(platform: Platform) -> str:
    rows = ["| service | reads beside its own schema | why |", "|---|---|---|"]
    for s in platform.services:
        for table, why in s.shared_reads:
            rows.append(f"| `{s.name}` | `{table}` | {_cell(why)} |")
    return "\n".join(rows)


TABLES: dict[str, tuple[str, Callable[[Platform], str]]] = {
    "types": ("contracts.md", types_table),
    "services": ("architecture.md", services_table),
    "shared-reads": ("architecture.md", shared_reads_table),
}


def _replace(text: str, name: str, body: str) -> str | None:
    pattern = re.compile(rf"(<!-- generated: {re.escape(name)} -->\n)(?:(?:(?!<!-- ).)*?\n)?({re.escape(END)})", re.S)
    if not pattern.search(text):
        return None
    return pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)


Extra = Mapping[str, tuple[str, Callable[[], str]]]  # tables of the layers above (e.g. the roles)


def render(platform: Platform, docs: Path = DOCS_DIR, extra: Extra | None = None
           ) -> tuple[dict[Path, str], list[str]]:
    """The docs files with their tables regenerated, and the tables that have no place to go."""
    texts: dict[Path, str] = {}
    missing = []
    tables = {name: (file, lambda table=table: table(platform)) for name, (file, table) in TABLES.items()}
    for name, (file, table) in {**tables, **(extra or {})}.items():
        path = docs / file
        text = texts.get(path, path.read_text() if path.exists() else "")
        replaced = _replace(text, name, table())
        if replaced is None:
            missing.append(f"docs/{file}: no `<!-- generated: {name} -->` … `{END}` block")
            continue
        texts[path] = replaced
    return texts, missing


def generate(platform: Platform, docs: Path = DOCS_DIR, extra: Extra | None = None) -> list[Path]:
    texts, _ = render(platform, docs, extra)
    for path, text in texts.items():
        if path.read_text() != text:
            path.write_text(text)
    return list(texts)


def check(platform: Platform, docs: Path = DOCS_DIR, extra: Extra | None = None) -> list[str]:
    texts, problems = render(platform, docs, extra)
    for path, text in texts.items():
        if path.read_text() != text:
            problems.append(f"docs/{path.name}: a generated table differs from the declarations"
                            " (run `kit contracts generate`)")
    return problems
