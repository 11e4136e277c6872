"""Screenshots of artbandit's HTML reports in a real browser (headless Chromium), to look at them.

    python tools/report_screenshots.py -o shots/                 # build a small simulate + replay, shoot both
    python tools/report_screenshots.py -o shots/ --demo          # ... and the demo's pages (about a minute)
    python tools/report_screenshots.py -o shots/ out/report.html # shoot reports you already have

Each page is rendered 1280 px wide (the reports' column is 1100 px), the blank bottom is cropped,
and the page is also cut into 1000 px tiles (`NAME_0.png`, ...) small enough for an image viewer or
a code review. Needs a Chromium on PATH (Debian: `apt-get install chromium`). Not part of CI:
tests/tools/test_report_screenshots.py runs it when a Chromium is installed.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

WIDTH = 1280
MAX_HEIGHT = 12_000  # a page longer than this is cut (no artbandit report is near it)
TILE = 1000
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> str | None:
    """The first Chromium-like browser on PATH, or None."""
    return next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)


def _headless(browser: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="artbandit-chromium-") as profile:
        return subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def dump_dom(page: Path, browser: str | None = None) -> str:
    """The page's DOM as the browser parsed it (what would run, not what the file says)."""
    browser = browser or find_browser()
    if browser is None:
        raise RuntimeError("no Chromium found on PATH (Debian: apt-get install chromium)")
    return _headless(browser, "--dump-dom", page.resolve().as_uri()).stdout


def screenshot(page: Path, out_png: Path, *, browser: str | None = None, tiles: bool = True) -> list[Path]:
    """Render `page` in headless Chromium into `out_png` (blank bottom cropped) and its tiles."""
    from PIL import Image, ImageChops

    browser = browser or find_browser()
    if browser is None:
        raise RuntimeError("no Chromium found on PATH (Debian: apt-get install chromium)")
    out_png.parent.mkdir(parents=True, exist_ok=True)
    _headless(browser, f"--screenshot={out_png}", f"--window-size={WIDTH},{MAX_HEIGHT}", page.resolve().as_uri())
    if not out_png.is_file():
        raise RuntimeError(f"{page}: the browser wrote no screenshot")
    with Image.open(out_png) as im:
        im = im.convert("RGB")
        box = ImageChops.difference(im, Image.new("RGB", im.size, (255, 255, 255))).getbbox()
        bottom = min(im.height, (box[3] if box else 1) + 40)
        im = im.crop((0, 0, im.width, bottom))
        im.save(out_png)
        written = [out_png]
        if tiles:
            for i, top in enumerate(range(0, im.height, TILE)):
                tile = out_png.with_name(f"{out_png.stem}_{i}.png")
                im.crop((0, top, im.width, min(im.height, top + TILE))).save(tile)
                written.append(tile)
    return written


def build_sample_reports(root: Path, *, demo: bool = False) -> list[Path]:
    """A small simulate run and its replay (and optionally the demo) to look at."""
    from simulations.online.runner import run_simulation
    from simulations.ope import run_replay

    run_simulation(
        "clickbait",
        ["vw:squarecb", "linucb", "ts-per-title", "uniform"],
        impressions=20_000,
        seed=0,
        out_dir=root / "simulate",
        jobs=2,
    )
    run_replay(
        root / "simulate" / "events.sqlite",
        ["vw:squarecb", "linucb", "uniform", "best-fixed"],
        ["ips", "snips", "dr"],
        out_dir=root / "replay",
    )
    pages = [root / "simulate" / "report.html", root / "replay" / "report.html"]
    if demo:
        from artbandit.demo import run_demo

        run_demo(root / "demo")
        pages += [
            root / "demo" / "index.html",
            root / "demo" / "simulate" / "report.html",
            root / "demo" / "replay" / "report.html",
        ]
    return pages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reports", nargs="*", type=Path, help="HTML reports (default: build sample ones)")
    parser.add_argument("-o", "--out", type=Path, required=True, help="folder for the PNGs")
    parser.add_argument("--demo", action="store_true", help="also build and shoot the demo's pages")
    args = parser.parse_args(argv)
    browser = find_browser()
    if browser is None:
        print("error: no Chromium found on PATH (Debian: apt-get install chromium)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="artbandit-reports-") as tmp:
        pages = args.reports or build_sample_reports(Path(tmp), demo=args.demo)
        for i, page in enumerate(pages, start=1):  # numbered: demo/simulate/report.html != simulate/report.html
            name = f"{i:02d}-" + "-".join(page.resolve().parts[-2:]).replace(".html", "")
            for png in screenshot(page, args.out / f"{name}.png", browser=browser):
                print(png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
