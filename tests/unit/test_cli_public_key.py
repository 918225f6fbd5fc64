"""A public key is URL-safe base64, so about one in 64 begins with '-': argparse then reads it as an option
unless it is written `--public-key=KEY`. CI met one such key; the docs and the auditor's page write that form."""
from pathlib import Path

import pytest

from entrypoints.cli import parser
from services.audit.words import WORDS

ROOT = Path(__file__).resolve().parents[2]
KEY = "-Qx3vR_0m8AaY2kV9tq1Jw4b7nLp5sXe6cHd0fUzGiE"


@pytest.mark.parametrize("command", [["audit", "verify-bundle", "bundle.json"], ["audit", "verify"]])
def test_a_key_beginning_with_a_dash_is_taken_in_the_documented_form(command):
    # given a key that begins with '-', when written as the docs write it
    args = parser().parse_args([*command, f"--public-key={KEY}"])
    # then it is the key, not a missing argument
    assert args.public_key == KEY


def test_every_place_that_shows_the_offline_check_writes_the_key_with_an_equals_sign():
    shown = [(ROOT / name).read_text() for name in ("README.md", "docs/audit.md", "docs/operators.md")]
    shown += [text for pair in WORDS.values() for text in pair if "verify-bundle" in text]
    assert all("verify-bundle" not in text or "--public-key=" in text for text in shown)
    assert not any("--public-key " in text for text in shown)
