"""The HubSpot connection form in a real browser (``slow``): headless Chromium (Debian's package,
driven by Playwright) against a real ``airflow api-server``.

Checks that the Airflow UI's "Add Connection" form for type HubSpot shows our relabelled fields and
placeholders, hides login/port/schema, masks the token and the OAuth secrets, lists the extra fields
with their labels, and that a connection whose extras were typed as raw JSON keeps exactly those
extras when saved (no field defaults written over them). The screenshot is kept in
``docs/connection-form.png`` and ``docs/connection-form-extra-fields.png``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._airflow_procs import free_port

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOT = REPO / "docs" / "connection-form.png"
SCREENSHOT_EXTRA = REPO / "docs" / "connection-form-extra-fields.png"
TOKEN = "pat-na1-BROWSER-CANARY-0123456789"


@pytest.fixture
def api_server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    home = tmp_path / "airflow"
    (tmp_path / "dags").mkdir()
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path / "dags"),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        }
    )
    airflow = str(Path(sys.executable).with_name("airflow"))
    log = (tmp_path / "api-server.log").open("ab")
    assert (
        subprocess.run([airflow, "db", "migrate"], env=env, stdout=log, stderr=log, timeout=180).returncode
        == 0
    )
    port = free_port()
    proc = subprocess.Popen(
        [airflow, "api-server", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{base}/api/v2/monitor/health", timeout=2):  # noqa: S310
                    break
            except OSError:
                time.sleep(1)
        else:
            raise AssertionError("airflow api-server did not start")
        yield base, env
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _stored(env: dict[str, str], conn_id: str) -> dict[str, object]:
    airflow = str(Path(sys.executable).with_name("airflow"))
    out = subprocess.run(
        [airflow, "connections", "get", conn_id, "-o", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    (row,) = json.loads(out.stdout[out.stdout.index("[") :])
    return dict(row)


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_hubspot_connection_form_in_chromium(api_server: tuple[str, dict[str, str]]) -> None:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="pip install airflow-provider-hubspot-events[browser]"
    )
    if not Path(CHROMIUM).exists():
        pytest.skip("needs Debian's chromium: make browser-deps")
    base, env = api_server
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 1900})
        page.goto(f"{base}/connections", wait_until="networkidle")
        page.get_by_role("button", name="Add Connection").click()
        dialog = page.get_by_role("dialog")
        dialog.locator("input[name=connection_id]").fill("hubspot_ui")
        dialog.get_by_role("combobox").first.click()
        page.keyboard.type("HubSpot")
        page.keyboard.press("Enter")

        host = dialog.locator("input[name=host]")
        password = dialog.locator("input[name=password]")
        assert host.get_attribute("placeholder") == "https://api.hubapi.com"
        assert password.get_attribute("type") == "password"
        assert password.get_attribute("placeholder") == "Private app token or Service Key (pat-na1-...)"
        assert dialog.get_by_text("API base URL", exact=True).is_visible()
        assert dialog.get_by_text("Access token", exact=True).is_visible()
        for hidden in ("login", "port", "schema"):
            assert dialog.locator(f"input[name={hidden}]").count() == 0, hidden

        host.fill("https://api.hubapi.com")
        password.fill(TOKEN)
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        assert password.get_attribute("type") == "password"  # typed, still shown as dots

        dialog.get_by_text("Extra Fields", exact=True).click()  # the sections are an accordion
        for label in (
            "API version",
            "Requests per 10 s (app budget)",
            "Read timeout (s)",
            "Tasks sharing the budget",
            "OAuth client secret",
        ):
            assert dialog.get_by_text(label, exact=True).first.is_visible(), label
        for secret in ("element_client_secret", "element_refresh_token"):
            assert dialog.locator(f"input[name={secret}]").get_attribute("type") == "password", secret
        assert dialog.locator("input[name=element_max_requests_per_10s]").input_value() == "100"
        # No default: empty means "detected for mapped tasks, else learnt from HubSpot's headers".
        assert dialog.locator("input[name=element_budget_sharers]").input_value() == ""
        # The OAuth endpoint's name contains no word Airflow masks, so its default shows as itself
        # (as "oauth_token_path" it was shown and saved as "***").
        assert dialog.locator("input[name=element_oauth_endpoint]").input_value() == "/oauth/v3/token"
        assert dialog.locator("input[name=element_oauth_token_path]").count() == 0

        page.wait_for_timeout(1000)  # let the accordion's animation end before the screenshot
        page.screenshot(path=str(SCREENSHOT_EXTRA), full_page=True)

        # Extras typed as raw JSON win over the fields' defaults.
        dialog.get_by_text("Extra Fields JSON", exact=True).click()
        dialog.locator(".monaco-editor").first.click()
        page.keyboard.press("Control+A")
        page.keyboard.press("Delete")
        page.keyboard.insert_text(json.dumps({"api_version": "v3", "max_requests_per_10s": 190}))
        dialog.get_by_role("button", name="Save").click()
        page.get_by_text("hubspot_ui").first.wait_for(timeout=15_000)
        browser.close()

    stored = _stored(env, "hubspot_ui")
    assert (stored["conn_type"], stored["host"], stored["password"]) == (
        "hubspot",
        "https://api.hubapi.com",
        TOKEN,
    )
    extras = stored["extra_dejson"]
    assert isinstance(extras, dict)
    assert {k: str(v) for k, v in extras.items()} == {"api_version": "v3", "max_requests_per_10s": "190"}
