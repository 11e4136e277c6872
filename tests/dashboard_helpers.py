"""A small catalogue written straight into an index (no video decoding) and browser helpers for the
dashboard tests: two titles of distinctly coloured PNG variants, one with hostile ids."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from artbandit.jobs.catalog_index import write_index
from tests.serve_helpers import HEADERS, KEY

HOSTILE = "<img src=x onerror=alert(1)>"
HOSTILE_TITLE = "<script>alert('t')</script>"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
COLOURS = [(0, 114, 178), (230, 159, 0), (0, 158, 115), (204, 121, 167)]


def make_index(root: Path) -> Path:
    """catalog.parquet for titles 'film-a' (4 variants) and a hostile one (2 variants)."""
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    titles = [
        ("film-a", "film-a", "Film A", ["a0", "a1", "a2", "a3"]),
        (HOSTILE_TITLE, "hostile", HOSTILE_TITLE, ["b0", HOSTILE]),
    ]
    for t, (tid, folder, name, vids) in enumerate(titles):
        d = root / "titles" / folder / "variants"
        d.mkdir(parents=True, exist_ok=True)
        for k, vid in enumerate(vids):
            img = np.zeros((90, 160, 3), np.uint8) + np.array(COLOURS[k % 4], np.uint8)
            img[10:30, 10 + 30 * k : 30 + 30 * k] = 255
            fname = f"v{k}.png"
            Image.fromarray(img).save(d / fname)
            row = {
                "title_id": tid,
                "folder": folder,
                "variant_id": vid,
                "file": f"titles/{folder}/variants/{fname}",
                "aspect": "16:9",
                "treatment": "plain",
                "width": 160,
                "height": 90,
                "source_file": f"titles/{folder}/candidates/c{k}.png",
                "source_frame": k,
                "source_time_s": k / 2,
                "title": name,
                "genre": "drama",
            }
            for i, f in enumerate(("brightness", "colorfulness", "face_count")):
                row["feature_" + f] = float((k + 1) * (i + 1) % 5) / 4
            rows.append(row)
    write_index(root, rows, ["title", "genre"])
    (root / "secret.txt").write_text("not listed in the index")
    return root


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        return "no Chromium here (Debian: apt-get install chromium chromium-driver; .ci/run does it)"
    if not os.path.exists(CHROMEDRIVER):
        return "no chromedriver here (Debian: apt-get install chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    return None


def browser():
    """Headless Debian Chromium through its own chromedriver (never a Selenium Manager download)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1200,900",
        "--disable-gpu",
        "--lang=en-GB",
    ):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


def login(driver, base: str, key: str = KEY) -> None:
    from selenium.webdriver.common.by import By

    driver.get(base + "/dashboard/login")
    driver.find_element(By.ID, "key").send_keys(key)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()


def rank_ids(client, ids: list[str], event_id: str | None = None, context: list | None = None) -> dict:
    body = {"contextFeatures": context or [], "actions": [{"id": i} for i in ids]}
    if event_id:
        body["eventId"] = event_id
    r = client.post("/rank", json=body)
    assert r.status_code == 201, r.text
    return r.json()


__all__ = [
    "HEADERS",
    "HOSTILE",
    "HOSTILE_TITLE",
    "KEY",
    "browser",
    "chromium_missing",
    "login",
    "make_index",
    "rank_ids",
]
