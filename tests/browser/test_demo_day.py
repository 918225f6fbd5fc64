"""`kit up --demo`, then each named demo user's first sign-in in a real Chromium, in Italian and in
English, at desktop and phone width: the start page has something waiting (youths due, referrals
to answer, or the audit trail to replay), names people and agencies in words (no codes, no ids, no
untranslated key), and nothing scrolls sideways."""

import re
import time

import pytest

from entrypoints import demo
from tests.browser.test_operator_journeys import CHROMIUM, WIDTHS, browser  # noqa: F401 (the fixture)
from tests.e2e.test_demo import start_demo_platform, wait_seeded
from tests.e2e.test_thin_path import platform_env, stop_platform, wait_healthy

pytestmark = pytest.mark.browser
ID = re.compile(r"\b[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}\b")
CODES = ("kit.intake.", "⟦", "key_worker", "employment_specialist", "comune-milano-m7", "afol-milano", "ips_placement")
# what each named user finds first, in Italian and in English
WAITING = {"giulia.mi7": ("Contatto perso", "Lost contact"), "elena.afol": ("Contatto previsto entro", "Contact was due by"),
           "luca.afol": ("Invii in attesa di risposta: 1", "Referrals waiting for an answer: 1"),
           "sara.mi7": ("Invii in attesa di risposta: 1", "Referrals waiting for an answer: 1"),
           "anna.audit": ("Registro di audit", "Audit trail"),
           "bianca.rete": ("Invii in attesa di risposta", "Referrals waiting for an answer")}


@pytest.fixture(scope="module")
def demo_platform(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("demo-web")
    data_dir = tmp / "kit-data"
    env, base, _ = platform_env(data_dir, KIT_DEMO_YOUTHS="40")
    proc = start_demo_platform(env)
    try:
        wait_healthy(base, proc)
        wait_seeded(tmp / "kit-up.log", proc)
        yield base
    finally:
        stop_platform(proc, data_dir)


def test_every_named_demo_user_finds_something_waiting_in_words_at_both_widths(demo_platform, browser):  # noqa: F811
    assert set(WAITING) == set(demo.START_HERE)
    for username, (italian, english) in WAITING.items():
        page = browser.new_context(base_url=demo_platform, viewport=WIDTHS["desktop"]).new_page()
        page.goto("/login")
        page.get_by_label("Nome utente").fill(username)
        page.get_by_label("Password").fill(demo.DEMO_PASSWORD)
        page.get_by_role("button", name="Accedi").click()
        page.wait_for_load_state()
        deadline = time.monotonic() + 20  # the first alerts scan runs as the intake service starts
        while italian not in page.locator("main").inner_text() and time.monotonic() < deadline:
            time.sleep(0.5)
            page.reload()
        text = page.locator("body").inner_text()
        assert italian in text, f"{username}: {text[:1500]}"
        assert not [c for c in CODES if c in text] and not ID.search(text), f"{username}: {text[:1500]}"
        for width in WIDTHS.values():
            page.set_viewport_size(width)
            assert page.evaluate("() => document.documentElement.scrollWidth") <= width["width"], username
        page.goto(page.url.split("?")[0] + "?lang=en")
        assert english in page.locator("main").inner_text(), username
        assert "⟦" not in page.content()
        page.context.close()
