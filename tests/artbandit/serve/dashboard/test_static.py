"""The dashboard in a real browser: Debian's headless Chromium through its chromedriver (Selenium),
against a real `artbandit serve --catalog` fed with traffic. Skipped only where no Chromium exists.
With ARTBANDIT_SCREENSHOTS=DIR the pages are also saved as PNGs there (docs/img for the docs)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.dashboard_helpers import (
    HOSTILE,
    HOSTILE_TITLE,
    browser,
    chromium_missing,
    login,
    make_index,
    rank_ids,
)
from tests.serve_helpers import Server, settled

pytestmark = pytest.mark.skipif(chromium_missing() is not None, reason=chromium_missing() or "")
SHOTS = os.environ.get("ARTBANDIT_SCREENSHOTS")


def _traffic(srv: Server, n: int, start: int) -> None:
    for i in range(start, start + n):
        ids = ["a0", "a1", "a2", "a3"] if i % 4 else ["b0", HOSTILE]
        r = rank_ids(srv.client, ids, event_id=f"e{i}", context=[{"user": {"segment": "abc"[i % 3]}}])
        value = 1.0 if r["rewardActionId"] in ("a2", "b0") or i % 7 == 0 else 0.0
        assert srv.client.post(f"/events/e{i}/reward", json={"value": value}).status_code == 204


def _wait(pred, timeout: float = 10.0):
    from selenium.common.exceptions import StaleElementReferenceException

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got = pred()
        except StaleElementReferenceException:  # the page redrew that element: look again
            got = None
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError("timed out waiting for the page")


def _severe(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def _shot(driver, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(SHOTS) / name))


@pytest.fixture(
    scope="module",
    params=[
        pytest.param((), id="one-process"),
        pytest.param(("--workers", "2", "--model-update-seconds", "0"), id="workers"),
    ],
)
def setup(tmp_path_factory, request):
    """The dashboard in a real browser, served by the single process and by rankers (the default)."""
    root = tmp_path_factory.mktemp("dashb")
    cat = make_index(root / "catalogue")
    srv = Server(root / "state", "--catalog", str(cat), *request.param).start()
    driver = browser()
    try:
        yield srv, driver
    finally:
        driver.quit()
        srv.stop()


def test_login_required_then_overview_updates_live_without_errors(setup):
    from selenium.webdriver.common.by import By

    srv, d = setup
    d.get(srv.url + "/dashboard")
    assert d.current_url.endswith("/dashboard/login")  # no session: the login form
    _shot(d, "dashboard-login.png")
    login(d, srv.url, key="wrong-key-wrong-key")
    _wait(lambda: "Wrong key" in d.page_source)  # the form's answer (after the navigation)
    assert d.get_cookies() == []
    d.get_log("browser")  # the 401 of the wrong key is expected: start the console check afresh
    login(d, srv.url)
    _wait(lambda: d.current_url.endswith("/dashboard"))
    cookie = d.get_cookie("artbandit_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    d.get(srv.url + "/dashboard?poll=300")
    _wait(lambda: d.find_element(By.TAG_NAME, "body").get_attribute("data-updates"))
    canvas = d.find_element(By.ID, "reward")
    assert canvas.get_attribute("data-points") == "0"
    _traffic(srv, 60, 0)  # traffic flows while the page is open: the charts grow without a reload
    _wait(lambda: int(canvas.get_attribute("data-points") or 0) > 0)
    _wait(lambda: int(d.find_element(By.ID, "traffic").get_attribute("data-points") or 0) > 0)
    assert d.execute_script("return performance.getEntriesByType('navigation').length") == 1
    legend = d.find_element(By.ID, "reward-legend").text
    assert "live policy (vw:select)" in legend and "baseline action" in legend and "uniform" in legend
    time.sleep(0.7)
    _shot(d, "dashboard-overview.png")
    assert _severe(d) == []


def test_title_page_images_and_probabilities_match_rank(setup):
    from selenium.webdriver.common.by import By

    srv, d = setup
    _traffic(srv, 12, 1000)
    settled(srv)  # rankers: the page's and the rank's answers come from the same snapshot
    d.get(srv.url + "/dashboard/title?id=film-a&poll=60000")
    cards = _wait(lambda: d.find_elements(By.CSS_SELECTOR, ".variant[data-probability]"))
    shown = {c.get_attribute("data-variant"): float(c.get_attribute("data-probability")) for c in cards}
    answered = {x["id"]: x["probability"] for x in rank_ids(srv.client, ["a0", "a1", "a2", "a3"])["ranking"]}
    assert shown == pytest.approx(answered, abs=1e-12)
    # per segment (the context's "segment" feature): probabilities as /rank answers for that segment
    rows = _wait(lambda: d.find_elements(By.CSS_SELECTOR, "#segments tr[data-segment]"))
    assert [r.get_attribute("data-segment") for r in rows] == ["a", "b", "c"]
    cells = rows[1].find_elements(By.CSS_SELECTOR, "td[data-variant]")
    seg_b = {
        x["id"]: x["probability"]
        for x in rank_ids(srv.client, ["a0", "a1", "a2", "a3"], context=[{"user": {"segment": "b"}}])["ranking"]
    }
    assert {
        c.get_attribute("data-variant"): float(c.get_attribute("data-probability")) for c in cells
    } == pytest.approx(seg_b, abs=1e-12)
    imgs = d.find_elements(By.CSS_SELECTOR, ".variant img")
    assert len(imgs) == 4
    _wait(
        lambda: all(
            d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", i) == 160 for i in imgs
        )
    )
    _shot(d, "dashboard-title.png")
    assert _severe(d) == []


def test_hostile_ids_are_text_not_markup(setup):
    from selenium.webdriver.common.by import By

    srv, d = setup
    d.get(srv.url + "/dashboard/titles")
    items = _wait(lambda: d.find_elements(By.CSS_SELECTOR, ".titles li"))
    assert {i.get_attribute("data-title") for i in items} == {"film-a", HOSTILE_TITLE}
    link = [i for i in items if i.get_attribute("data-title") == HOSTILE_TITLE][0].find_element(By.TAG_NAME, "a")
    assert HOSTILE_TITLE in link.text
    _shot(d, "dashboard-titles.png")
    link.click()
    cards = _wait(lambda: d.find_elements(By.CSS_SELECTOR, ".variant[data-probability]"))
    assert [c.get_attribute("data-variant") for c in cards] == ["b0", HOSTILE]
    assert HOSTILE in cards[1].find_element(By.CSS_SELECTOR, ".id").text  # shown as text
    assert HOSTILE_TITLE in d.find_element(By.ID, "title-name").text
    # nothing was parsed as markup: no <img src=x>, no <script> but the page's own, no alert
    assert d.execute_script("return document.querySelectorAll('img[src=\"x\"], img[onerror]').length") == 0
    assert d.execute_script("return document.scripts.length") == 1
    from selenium.common.exceptions import NoAlertPresentException

    with pytest.raises(NoAlertPresentException):
        d.switch_to.alert.text
    assert _severe(d) == []


def test_an_evaluation_runs_from_the_page_and_its_winner_is_applied(setup):
    from selenium.webdriver.common.by import By

    srv, d = setup
    for i in range(240):  # a learnable rule: segment a wants a2, the others a3, nobody the baseline a0
        seg = "abc"[i % 3]
        r = rank_ids(srv.client, ["a0", "a1", "a2", "a3"], event_id=f"ev{i}", context=[{"user": {"segment": seg}}])
        good = "a2" if seg == "a" else "a3"
        srv.client.post(f"/events/ev{i}/reward", json={"value": float(r["rewardActionId"] == good)})
    d.get(srv.url + "/dashboard/evaluations?poll=300")
    name = d.find_element(By.ID, "eval-name")
    name.clear()
    name.send_keys(HOSTILE)
    d.find_element(By.ID, "eval-hours").send_keys("1")  # the last hour of the log: all of it here
    d.find_element(By.ID, "run-eval").click()
    _wait(
        lambda: [
            c for c in d.find_elements(By.CSS_SELECTOR, ".evaluation") if c.get_attribute("data-status") == "completed"
        ],
        timeout=60,
    )
    card = d.find_element(By.CSS_SELECTOR, ".evaluation[data-status=completed]")  # redrawn no more
    assert HOSTILE in card.find_element(By.TAG_NAME, "h2").text
    assert srv.client.get("/evaluations").json()[0]["startTime"]  # the window was sent
    assert " logged from " in card.find_element(By.CSS_SELECTOR, ".caption").text and " to now" in card.text
    rows = card.find_elements(By.CSS_SELECTOR, "tr[data-policy]")
    assert {"baseline", "uniform", "vw:select"} <= {r.get_attribute("data-policy") for r in rows}
    _shot(d, "dashboard-evaluations.png")
    version = srv.client.get("/model/properties").json()["modelVersion"]
    card.find_element(By.CSS_SELECTOR, "button.apply").click()
    d.switch_to.alert.dismiss()  # "cancel" in the confirmation changes nothing
    time.sleep(0.5)
    assert srv.client.get("/model/properties").json()["modelVersion"] == version
    card = d.find_element(By.CSS_SELECTOR, ".evaluation")
    card.find_element(By.CSS_SELECTOR, "button.apply").click()
    d.switch_to.alert.accept()
    _wait(lambda: d.find_elements(By.ID, "rollback"), timeout=30)
    assert "Serving vw:" in d.find_element(By.ID, "applied").text
    assert srv.client.get("/evaluations").json()[0]["status"] == "optimalPolicyApplied"
    assert srv.state.joinpath("previous-model.bin").is_file()
    assert d.execute_script("return document.querySelectorAll('img[src=\"x\"], img[onerror]').length") == 0
    assert _severe(d) == []


def test_api_docs_render_from_local_files_only(setup):
    from selenium.webdriver.common.by import By

    srv, d = setup
    d.get(srv.url + "/docs")
    ops = _wait(lambda: d.find_elements(By.CSS_SELECTOR, ".opblock"), timeout=20)
    assert len(ops) > 15
    assert d.find_elements(By.CSS_SELECTOR, ".btn.authorize")  # the key scheme: an "Authorize" button
    urls = d.execute_script("return performance.getEntriesByType('resource').map(function (e) { return e.name; })")
    assert urls and all(u.startswith(srv.url) for u in urls), urls
    _shot(d, "serve-docs.png")
    assert _severe(d) == []


def test_overview_follows_artbandit_simulate_service(tmp_path):
    """The issue's setup: a service fed by `artbandit simulate --service`; the page counts what it sent."""
    import subprocess
    import sys

    from selenium.webdriver.common.by import By

    from tests.serve_helpers import KEY

    with Server(tmp_path / "state") as srv:
        d = browser()
        try:
            login(d, srv.url)
            _wait(lambda: d.current_url.endswith("/dashboard"))
            d.get(srv.url + "/dashboard?poll=300")
            _wait(lambda: d.find_element(By.TAG_NAME, "body").get_attribute("data-updates"))
            sim = subprocess.run(
                [sys.executable, "-m", "artbandit", "simulate", "--service", srv.url, "-n", "300", "--json", "-q"],
                env={**os.environ, "ARTBANDIT_API_KEY": KEY},
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert sim.returncode == 0, sim.stderr

            def tile(name: str) -> str:
                for t in d.find_elements(By.CSS_SELECTOR, ".tile"):
                    if t.find_element(By.CSS_SELECTOR, ".k").text == name:
                        return t.find_element(By.CSS_SELECTOR, ".v").text
                return ""

            _wait(lambda: tile("events learned") == "300")
            _wait(lambda: int(d.find_element(By.ID, "reward").get_attribute("data-points") or 0) > 0)
            minutes = d.execute_script(
                "return fetch('/dashboard/api/overview').then(r => r.json())"
                ".then(j => j.minutes.reduce((a, m) => a + m.decisions, 0))"
            )
            assert minutes == 300
            assert _severe(d) == []
        finally:
            d.quit()


def test_configuration_page_shows_the_settings(setup):
    from selenium.webdriver.common.by import By

    srv, d = setup
    srv.client.put(
        "/configurations/service",
        json={**srv.client.get("/configurations/service").json(), "explorationPercentage": 0.05},
    )
    settled(srv)  # rankers: the page may come from another ranker than the one that took the change
    d.get(srv.url + "/dashboard/configuration")
    _wait(lambda: d.find_elements(By.CSS_SELECTOR, "#service tr[data-key=explorationPercentage]"))
    assert d.find_element(By.ID, "cfg-explorationPercentage").get_attribute("value") == "0.05"
    assert d.find_element(By.ID, "cfg-rewardWaitTime").get_attribute("value") == "PT10M"
    assert d.find_element(By.ID, "cfg-learningMode").tag_name == "select"
    assert "--cb_explore_adf" in d.find_element(By.CSS_SELECTOR, "#policy tr[data-key=arguments]").text
    assert not d.find_elements(By.CSS_SELECTOR, "#policy input, #limits input")  # read-only
    _shot(d, "dashboard-configuration.png")
    srv.client.put(
        "/configurations/service",
        json={**srv.client.get("/configurations/service").json(), "explorationPercentage": 0.0},
    )
    settled(srv)
    assert _severe(d) == []


def test_configuration_page_edits_a_setting_that_persists_after_reload(setup):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    srv, d = setup
    before = srv.client.get("/configurations/service").json()
    d.get(srv.url + "/dashboard/configuration?poll=300")
    field = _wait(lambda: d.find_elements(By.ID, "cfg-explorationPercentage"))[0]
    time.sleep(0.7)  # a few polls: they must not overwrite what is typed
    field.clear()
    field.send_keys("1.5")
    d.find_element(By.ID, "save-config").click()
    msg = _wait(lambda: d.find_element(By.ID, "config-message").text)
    assert msg == "explorationPercentage must be a number in [0, 1]"  # the validator's own line
    assert srv.client.get("/configurations/service").json() == before  # nothing applied
    assert all(" 400 " in m for m in _severe(d))  # the refused request is the only console entry
    field.clear()
    field.send_keys("0.125")
    Select(d.find_element(By.ID, "cfg-rewardAggregation")).select_by_value("average")
    time.sleep(0.7)
    d.find_element(By.ID, "save-config").click()
    _wait(lambda: d.find_element(By.ID, "config-message").text == "Saved.")
    settled(srv)  # rankers: the one that took the change answered once it served it; the others follow
    assert srv.client.get("/configurations/service").json() == {
        **before,
        "explorationPercentage": 0.125,
        "rewardAggregation": "average",
    }
    d.refresh()
    _wait(lambda: d.find_elements(By.ID, "cfg-explorationPercentage"))
    assert d.find_element(By.ID, "cfg-explorationPercentage").get_attribute("value") == "0.125"
    assert Select(d.find_element(By.ID, "cfg-rewardAggregation")).first_selected_option.text == "average"
    assert _severe(d) == []
    srv.client.put("/configurations/service", json=before)
    settled(srv)
