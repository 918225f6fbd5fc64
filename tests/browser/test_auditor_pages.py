"""The auditor's pages in a real headless Chromium against `kit up`: sign in, see that the log
verifies, open a youth's path by its pseudonym, read the case at a date, download the signed
bundle and look through the access log; axe finds no violation on any of these pages, at desktop
(1366 px) and phone (390 px) widths."""

import pytest

from tests.browser.test_operator_journeys import PASSWORD, WIDTHS, browser, no_violations  # noqa: F401 (the fixture)
from tests.e2e.test_auditor_web import seed_path
from tests.e2e.test_intake_journey import MILANO
from tests.e2e.test_thin_path import add_users, platform_env, start_platform, stop_platform, wait_healthy

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("audit-web")
    data_dir = tmp / "kit-data"
    env, base, nats_at = platform_env(data_dir, KIT_CHECKPOINT_INTERVAL="1")
    proc = start_platform(env)
    try:
        wait_healthy(base, proc)
        add_users(env, [(MILANO, "key_worker", "giulia"), (MILANO, "auditor", "anna")], PASSWORD)
        yield {"base": base, "youth": seed_path(base, nats_at)}
    finally:
        stop_platform(proc, data_dir)


def test_an_auditor_replays_a_path_in_the_browser_and_axe_finds_nothing(platform, browser):  # noqa: F811
    base, youth = platform["base"], platform["youth"]
    page = browser.new_context(base_url=base, viewport=WIDTHS["desktop"], accept_downloads=True).new_page()
    page.goto("/login")
    page.get_by_label("Nome utente").fill("anna")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Accedi").click()
    page.wait_for_load_state()

    page.goto("/audit")
    assert page.get_by_role("navigation", name="Menu principale").get_by_role("link", name="Registro degli accessi").is_visible()
    page.get_by_text("Il registro è integro").wait_for()
    no_violations(page, "the audit trail's landing page")

    page.get_by_label("Identificativo del giovane (pseudonimo)").fill(youth)
    page.get_by_role("button", name="Apri").click()
    page.wait_for_url(f"**/audit/youths/{youth}?lang=it")
    table = page.locator("#path")
    assert table.get_by_role("cell", name="Giovane registrato", exact=True).is_visible()
    assert table.get_by_role("cell", name="Contatto di prossimità registrato", exact=True).is_visible()
    assert table.locator("tr.read").count() >= 1  # the key worker's reads are part of the path
    no_violations(page, "a youth's path")

    with page.expect_download() as download:
        page.get_by_role("link", name="Scarica il fascicolo firmato").click()
    assert download.value.suggested_filename == f"kit-audit-bundle-{youth}.json"

    page.get_by_role("button", name="Mostra").click()
    page.wait_for_url(f"**/audit/youths/{youth}/state?**")
    assert page.get_by_role("heading", name="Presa in carico e percorso").is_visible()
    assert page.get_by_role("definition").filter(has_text="Comune di Milano - Municipio 7").first.is_visible()
    no_violations(page, "the case at a date")

    page.get_by_role("link", name="Registro degli accessi").click()
    page.get_by_label("Finalità").select_option("audit")
    page.get_by_role("button", name="Cerca").click()
    page.wait_for_url("**/audit/access?**purpose=audit**")
    assert page.locator("#access tbody tr").first.is_visible()
    no_violations(page, "the access log")

    for path in ("/audit", f"/audit/youths/{youth}", f"/audit/youths/{youth}/state", "/audit/access"):
        page.goto(path)
        assert page.locator("form[method=post]:not([action='/logout'])").count() == 0, path
        assert "⟦" not in page.content(), path
