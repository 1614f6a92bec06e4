"""The judgment browser at scale: 20,000 judgments open and filter in headless Chromium.

    python bench/browser_scale.py [--n-judgments 20000] [--keep DIR]
    python bench/browser_scale.py --screenshot docs/browser.png      # the README's screenshot

Makes ``n / 2`` pairwise toy-world items (``critic toy make``; 2 items per image) and judges each in
both orders with a seeded synthetic judge (78 % right, 5 % parse failures, the rest a random verdict;
the toy world's rationale as the judge's), runs ``critic eval`` (report.json, plots, report.html) and
opens ``report.html`` from ``file://`` in headless Chromium (Debian's ``chromium`` and
``chromium-driver``, driven by Selenium; no driver download). Printed:

- the time ``critic eval`` takes, and the page alone (:func:`critic.evaluation.browser.write_browser`);
- page weight: the HTML (data embedded) and the thumbnails and plots it links;
- time to interactive: navigation start to the end of the page's first render (the script has
  parsed the data, built the controls and the first 50 cards; ``criticBrowser.readyMs``), and to
  the ``load`` event (the images above the fold decoded);
- the time one filter (``wrong``), one search and one sort take to re-render (``lastApplyMs``), and
  the longest main-thread task seen while doing so, from a ``longtask`` PerformanceObserver.

The test suite imports the helpers here (``chromium``, ``synthetic_judgments``, ``toy_eval``).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")


def have_chromium() -> bool:
    return Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()


def chromium(width: int = 1280, height: int = 900):
    """Headless Chromium under Selenium, the driver given explicitly (Selenium Manager downloads nothing);
    console messages and network events are logged (``goog:loggingPrefs``)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}", "--hide-scrollbars", "--force-device-scale-factor=1"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


def synthetic_judgments(items: Path, out: Path, *, seed: int = 0, judge: str = "synthetic-judge",
                        p_right: float = 0.78, p_fail: float = 0.05) -> Path:
    """Judge every pairwise item of ``items`` in both orders with a seeded synthetic judge."""
    from critic.records import PairwiseJudgment

    rng = random.Random(seed)
    with out.open("w", encoding="utf-8") as f:
        for line in items.read_text(encoding="utf-8").splitlines():
            it = json.loads(line)
            rationale = (it.get("meta") or {}).get("rationale") or "The responses were compared with the image."
            for swapped in (False, True):
                u = rng.random()
                winner = it["label"] if u < p_right else None if u < p_right + p_fail else rng.choice(["A", "B", "tie"])
                extra = ({"parse_error": "no verdict found", "raw": "Both responses have merits and flaws."}
                         if winner is None else {"rationale": rationale, "raw": rationale})
                j = PairwiseJudgment(id=it["id"], winner=winner, swapped=swapped, template="llava_critic_pairwise",
                                     template_hash="0" * 16, judge=judge, **extra)
                f.write(json.dumps(j.to_json_dict(), ensure_ascii=False) + "\n")
    return out


def toy_eval(work: Path, n_items: int, *, seed: int = 0, n_resamples: int = 200, **judge: float) -> Path:
    """Toy items, synthetic judgments (``judge``: ``p_right``, ``p_fail``) and ``critic eval`` in ``work``;
    returns the report folder."""
    from critic.commands.main import main

    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["toy", "make", "--task", "pairwise", "--n", str(n_items), "--seed", str(seed),
                     "--out", str(work / "toy")]) == 0
        synthetic_judgments(work / "toy" / "items.jsonl", work / "judgments.jsonl", seed=seed, **judge)
        assert main(["eval", "--gold", str(work / "toy" / "items.jsonl"), "--judgments", str(work / "judgments.jsonl"),
                     "--out", str(work / "report"), "--n-resamples", str(n_resamples)]) == 0
    return work / "report"


LONGTASKS = """window.__long = 0; new PerformanceObserver(function (l) {
  l.getEntries().forEach(function (e) { window.__long = Math.max(window.__long, e.duration); });
}).observe({type: "longtask", buffered: true});"""


def measure_page(driver, page: Path) -> dict:
    """Open ``page`` and time the first render, one filter, one search and one sort."""
    t0 = time.perf_counter()
    driver.get(page.resolve().as_uri())
    get_s = time.perf_counter() - t0
    ready = driver.execute_script("return window.criticBrowser.readyMs")
    load = driver.execute_script("var t = performance.getEntriesByType('navigation')[0]; return t.loadEventEnd")
    driver.execute_script(LONGTASKS)
    out = {"ready_ms": ready, "load_ms": load, "get_s": get_s,
           "n_items": driver.execute_script("return window.criticBrowser.shown().length"),
           "cards": driver.execute_script("return document.querySelectorAll('.card').length")}
    driver.find_element("id", "f-wrong").click()
    out["filter_wrong_ms"] = driver.execute_script("return window.criticBrowser.lastApplyMs()")
    out["n_wrong"] = driver.execute_script("return window.criticBrowser.shown().length")
    driver.find_element("id", "f-wrong").click()
    box = driver.find_element("id", "search")
    box.send_keys("triangle")
    time.sleep(0.5)  # the search box waits 120 ms after the last key
    out["search_ms"] = driver.execute_script("return window.criticBrowser.lastApplyMs()")
    out["n_search"] = driver.execute_script("return window.criticBrowser.shown().length")
    driver.execute_script("var s = document.getElementById('s-sort'); s.value = 'conf';"
                          "s.dispatchEvent(new Event('change'));")
    out["sort_ms"] = driver.execute_script("return window.criticBrowser.lastApplyMs()")
    out["longest_task_ms"] = driver.execute_script("return window.__long")
    return out


def page_weight(report: Path) -> tuple[int, int]:
    html = (report / "report.html").stat().st_size
    linked = sum(p.stat().st_size for p in (report / "report_files").rglob("*") if p.is_file())
    linked += sum(p.stat().st_size for p in report.glob("*.png"))
    return html, linked


def screenshot(path: Path) -> Path:
    """The README's screenshot: a toy-world eval page, the "wrong" filter on, one rationale open."""
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        report = toy_eval(Path(tmp), 24, seed=3, n_resamples=200, p_fail=0.1)
        driver = chromium(1280, 1500)
        try:
            driver.get((report / "report.html").resolve().as_uri() + "#f=wrong")
            driver.execute_script("var d = document.querySelector('.card details'); if (d) d.open = true;")
            time.sleep(0.3)
            raw = Path(tmp) / "shot.png"
            driver.save_screenshot(str(raw))
        finally:
            driver.quit()
        img = Image.open(raw).convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT)
        path.parent.mkdir(parents=True, exist_ok=True)
        img.save(path, optimize=True)
    print(f"screenshot: {path} ({path.stat().st_size / 1024:.0f} KB)")
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n-judgments", type=int, default=20000)
    ap.add_argument("--keep", type=Path, default=None, help="build here and keep it (default: a temporary folder)")
    ap.add_argument("--screenshot", type=Path, default=None, help="only write the README screenshot to this PNG")
    args = ap.parse_args()
    if args.screenshot is not None:
        screenshot(args.screenshot)
        return
    if not have_chromium():
        raise SystemExit(f"needs {CHROMIUM} and {CHROMEDRIVER} (apt-get install chromium chromium-driver)")
    work = args.keep or Path(tempfile.mkdtemp(prefix="browser_scale_"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    report = toy_eval(work, args.n_judgments // 2, n_resamples=1000)
    eval_s = time.perf_counter() - t0
    from critic.evaluation.browser import write_browser

    t0 = time.perf_counter()
    write_browser(work / "page_only" / "view.html", work / "judgments.jsonl", gold=work / "toy" / "items.jsonl")
    page_s = time.perf_counter() - t0
    html, linked = page_weight(report)
    n = len((work / "judgments.jsonl").read_text().splitlines())
    print(f"{n} judgments, {n // 2} items; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"critic eval (1000 resamples, plots, report.html): {eval_s:.1f} s; the page alone (critic view): {page_s:.1f} s")
    print(f"page weight: report.html {html / 2**20:.1f} MB + {linked / 2**20:.1f} MB linked "
          f"({len(list((report / 'report_files').rglob('*.*')))} files)")
    driver = chromium()
    try:
        runs = [measure_page(driver, report / "report.html") for _ in range(3)]
    finally:
        driver.quit()
    for k in ("ready_ms", "load_ms", "filter_wrong_ms", "search_ms", "sort_ms", "longest_task_ms"):
        vals = sorted(r[k] for r in runs if r[k] is not None)
        print(f"  {k:16s} median {vals[len(vals) // 2]:8.0f}   (runs: {', '.join(f'{v:.0f}' for v in vals)})")
    r = runs[-1]
    print(f"  cards rendered at first: {r['cards']} of {r['n_items']}; wrong: {r['n_wrong']}; 'triangle': {r['n_search']}")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
