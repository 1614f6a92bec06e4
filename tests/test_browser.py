"""The judgment browser (`critic view`, `critic eval`'s report.html): page data, escaping, thumbnails, and the
page itself in a real browser (headless Chromium from Debian's packages, driven by Selenium).

Without Chromium the browser tests are skipped, except under CI (``CI=true``), where they fail: `.ci/run`
installs it. The 20,000-judgment timing test is ``slow``; ``bench/browser_scale.py`` prints the same numbers.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import time
from pathlib import Path

import pytest

from critic.commands.main import main
from critic.evaluation.browser import Thumbnails, render, write_browser
from critic.evaluation.browser_data import page_data
from critic.evaluation.evaluate import evaluate
from critic.records import PairwiseJudgment, PointwiseJudgment

ROOT = Path(__file__).resolve().parent.parent
META = dict(template="llava_critic_pairwise", template_hash="h", judge="judge-1")


def _bench():
    spec = importlib.util.spec_from_file_location("browser_scale", ROOT / "bench" / "browser_scale.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


bench = _bench()


def pj(id, winner, swapped=False, **kw):
    extra = {"parse_error": "no verdict found", "raw": "I cannot decide."} if winner is None else {}
    return PairwiseJudgment(id=id, winner=winner, swapped=swapped, **{**META, **extra, **kw})


# ------------------------------------------------------------------------------------------ page data

def _mixed():
    gold = [{"id": f"i{k}", "label": "tie" if k % 5 == 0 else "AB"[k % 2], "group": f"g{k % 3}"} for k in range(30)]
    js = []
    for k, g in enumerate(gold):
        for swapped in (False, True):
            w = None if k % 7 == 3 and swapped else g["label"] if (k + swapped) % 4 else "A"
            js.append(pj(g["id"], w, swapped))
    return gold, js


def test_flags_match_what_the_report_counts():
    gold, js = _mixed()
    data = page_data(js, gold=gold)
    pw = evaluate(gold, js, n_resamples=20).to_dict()["pairwise"]
    items = data["items"]
    assert len(items) == pw["n_items"] == 30
    wrong_judgments = sum(e["sides"][0]["nw"] for e in items)
    assert wrong_judgments == round(pw["n_judgments"] * (1 - pw["accuracy_with_ties"]))
    assert sum(bool(e["f"].get("od")) for e in items) == round(pw["n_items_both_orders"] * (1 - pw["consistency"]))
    assert sum(bool(e["f"].get("pf")) for e in items) == round(pw["n_judgments"] * pw["parse_failure_rate"])
    by_id = {e["id"]: e for e in items}
    assert by_id["i3"]["sides"][0]["v"] is None and by_id["i3"]["f"]["pf"]  # one failed order: no combined verdict
    assert by_id["i3"]["sides"][0]["o"][1]["raw"] == "I cannot decide."
    assert "raw" not in by_id["i1"]["sides"][0]["o"][0]  # parsed judgments do not carry their raw text
    assert data["meta"]["groups"] == ["g0", "g1", "g2"] and data["meta"]["has_gold"]


def test_without_gold_and_with_two_judges():
    gold, js = _mixed()
    other = [pj(j.id, "B" if j.id in ("i1", "i2") else j.winner, j.swapped, judge="judge-2",
                **({"parse_error": j.parse_error, "raw": j.raw} if j.winner is None else {})) for j in js]
    data = page_data(js, compare=other)
    assert data["meta"]["judges"] == ["judge-1", "judge-2"] and not data["meta"]["has_gold"]
    assert all("wrong" not in e["f"] and "gold" not in e for e in data["items"])
    dis = sorted(e["id"] for e in data["items"] if e["f"].get("dis"))
    assert dis == ["i2"]  # i1 is B in both orders for both judges; i2 was A, A for judge-1
    assert data["meta"]["n_judgments"] == [60, 60]


def test_pointwise_error_uses_the_mapped_scale_and_a_tolerance():
    gold = [{"id": f"s{k}", "score": 1 + k % 5, "response_model": f"m{k % 2}"} for k in range(10)]
    js = [PointwiseJudgment(id=f"s{k}", score=None if k == 9 else 20.0 * (1 + k % 5) + (30 if k == 4 else 0),
                            template="t", template_hash="h", judge="j",
                            **({"parse_error": "no score", "raw": "?"} if k == 9 else {})) for k in range(10)]
    data = page_data(js, gold=gold, judge_scale=(20, 100), gold_scale=(1, 5))
    by_id = {e["id"]: e for e in data["items"]}
    assert data["meta"]["scales"]["tolerance"] == pytest.approx(0.4)
    assert by_id["s0"]["err"] == 0 and not by_id["s0"]["f"]
    assert by_id["s4"]["err"] == pytest.approx(1.5) and by_id["s4"]["f"]["wrong"]
    assert by_id["s9"]["err"] is None and by_id["s9"]["f"] == {"wrong": 1, "pf": 1}
    assert data["meta"]["models"] == ["m0", "m1"]


def test_user_text_cannot_break_out_of_the_data_blob(tmp_path):
    evil = "</script><script>window.pwned = 1</script><!-- & \u2028"
    js = [pj("x<1>", "A", rationale=evil), pj("y", None, raw=evil)]
    html = render(page_data(js, gold=[{"id": "x<1>", "label": "A"}, {"id": "y", "label": "B"}]))
    blob = re.search(r'<script type="application/json" id="critic-data">(.*?)</script>', html, re.S).group(1)
    assert "<" not in blob and ">" not in blob and "&" not in blob
    data = json.loads(blob)
    assert data["items"][0]["sides"][0]["o"][0]["r"] == evil and data["items"][1]["sides"][0]["o"][0]["raw"] == evil
    assert html.count("<script") == 2  # the blob and the page's own script, nothing injected
    assert "innerHTML" not in html  # cards are built with textContent


def test_thumbnails_are_copied_small_and_linked_relative(tmp_path):
    from PIL import Image

    big, small = tmp_path / "src" / "big.jpg", tmp_path / "src" / "small.png"
    big.parent.mkdir()
    Image.new("RGB", (1200, 600), (10, 200, 30)).save(big)
    Image.new("RGB", (32, 32), (200, 10, 30)).save(small)
    page_dir = tmp_path / "page"
    page_dir.mkdir()
    thumbs = Thumbnails(page_dir, page_dir / "v_files")
    t_big, t_small = thumbs(str(big)), thumbs(str(small))
    assert t_big[1] == "../src/big.jpg" and t_small[1] == "../src/small.png"
    with Image.open(page_dir / t_big[0]) as im:
        assert max(im.size) == 256
    assert (page_dir / t_small[0]).read_bytes() == small.read_bytes()
    assert thumbs(str(tmp_path / "missing.png")) is None
    copied = Thumbnails(page_dir, page_dir / "c_files", copy_images=True)(str(big))
    assert copied[1].startswith("c_files/") and (page_dir / copied[1]).read_bytes() == big.read_bytes()


def test_view_command(tmp_path, capsys):
    gold, js = _mixed()
    (tmp_path / "j.jsonl").write_text("".join(json.dumps(j.to_json_dict()) + "\n" for j in js))
    (tmp_path / "g.jsonl").write_text("".join(json.dumps(g) + "\n" for g in gold) + "{not json\n")
    assert main(["view", str(tmp_path / "j.jsonl"), "--output", str(tmp_path / "v.html")]) == 0
    assert "wrote " in capsys.readouterr().out and (tmp_path / "v.html").is_file()
    assert main(["view", str(tmp_path / "j.jsonl"), "--gold", str(tmp_path / "g.jsonl"), "--output",
                 str(tmp_path / "w" / "v.html"), "--n-resamples", "20"]) == 0
    html = (tmp_path / "w" / "v.html").read_text()
    assert "accuracy_with_ties" in html and "v_files/plots-1/confusion.png" in html
    assert "g.jsonl:31: (json)" in html  # input problems are shown
    assert main(["view", str(tmp_path / "nope.jsonl"), "--output", str(tmp_path / "x.html")]) == 2
    assert main(["view", str(tmp_path / "j.jsonl"), "--output", str(tmp_path / "x.txt")]) == 2
    assert "ends in .html" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ in Chromium

@pytest.fixture(scope="module")
def browser():
    if not bench.have_chromium():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI needs {bench.CHROMIUM} and {bench.CHROMEDRIVER} (apt-get install chromium chromium-driver)")
        pytest.skip("no chromium / chromedriver (apt-get install chromium chromium-driver)")
    pytest.importorskip("selenium")
    driver = bench.chromium()
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def toy_report(tmp_path_factory):
    return bench.toy_eval(tmp_path_factory.mktemp("toy_eval"), 40, seed=1, n_resamples=50)


def _open(driver, page: Path, fragment: str = ""):
    driver.get_log("browser"), driver.get_log("performance")  # drop what earlier pages logged
    driver.get(page.resolve().as_uri() + fragment)
    assert driver.execute_script("return document.documentElement.getAttribute('data-ready')") == "1"


def _requests(driver) -> list[str]:
    out = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            out.append(msg["params"]["request"]["url"])
    return out


def _shown(driver) -> list[str]:
    return driver.execute_script("return window.criticBrowser.shown()")


def test_toy_eval_page_in_chromium(browser, toy_report, tmp_path):
    page = toy_report / "report.html"
    _open(browser, page)
    assert browser.get_log("browser") == []  # no console error, warning or message
    requests = _requests(browser)
    assert requests and all(u.startswith(("file:", "data:")) for u in requests), requests
    assert any(u.endswith(".png") and "report_files/img/" in u for u in requests)  # thumbnails load

    judgments = [json.loads(x) for x in (toy_report.parent / "judgments.jsonl").read_text().splitlines()]
    items_by_id = {json.loads(x)["id"]: x for x in (toy_report.parent / "toy" / "items.jsonl").read_text().splitlines()}
    gold = {i: json.loads(x)["label"] for i, x in items_by_id.items()}
    ids = list(dict.fromkeys(j["id"] for j in judgments))
    cards = browser.find_elements("css selector", ".card")
    assert [c.get_attribute("data-id") for c in cards] == ids  # one card per judged item, in file order
    assert browser.find_element("id", "count").text == f"showing {len(ids)} of {len(ids)} items"

    # "wrong" shows exactly the items with a judgment the report counts as wrong
    report = json.loads((toy_report / "report.json").read_text())["pairwise"]
    wrong = [i for i in ids if any(j["id"] == i and j.get("winner") != gold[i] for j in judgments)]
    n_wrong = sum(j.get("winner") != gold[j["id"]] for j in judgments)
    assert n_wrong == round(report["n_judgments"] * (1 - report["accuracy_with_ties"]))
    browser.find_element("id", "f-wrong").click()
    assert _shown(browser) == wrong and 0 < len(wrong) < len(ids)
    assert len(browser.find_elements("css selector", ".card.wrong")) == len(wrong)
    assert "f=wrong" in browser.current_url

    # the hash keeps the filter: the link opens filtered
    _open(browser, page, "#f=wrong")
    assert _shown(browser) == wrong and browser.find_element("id", "f-wrong").is_selected()
    _open(browser, page, "#g=colour")
    colour = [i for i in ids if json.loads(items_by_id[i])["group"] == "colour"]
    assert _shown(browser) == colour and browser.find_element("id", "s-g").get_attribute("value") == "colour"
    _open(browser, page, "#g=no-such-group&sort=bogus")  # values the page lacks: everything, in file order
    assert _shown(browser) == ids

    # search finds an item by id
    target = ids[7]
    box = browser.find_element("id", "search")
    browser.find_element("id", "clear").click()
    box.send_keys(target)
    deadline = time.time() + 5
    while _shown(browser) != [target] and time.time() < deadline:
        time.sleep(0.05)
    assert _shown(browser) == [target]

    # j / k move between cards; a rationale unfolds on click
    browser.find_element("id", "clear").click()
    body = browser.find_element("tag name", "body")
    body.send_keys("jj")
    current = browser.find_elements("css selector", ".card.current")
    assert [c.get_attribute("data-id") for c in current] == [ids[1]]
    body.send_keys("k")
    assert browser.find_element("css selector", ".card.current").get_attribute("data-id") == ids[0]
    details = browser.find_element("css selector", ".card details")
    details.find_element("tag name", "summary").click()
    assert details.get_attribute("open") is not None
    assert browser.get_log("browser") == []

    # a screenshot, kept with the test's files (a CI artifact), and not blank
    shot = tmp_path / "report_html.png"
    assert browser.save_screenshot(str(shot))
    from PIL import Image

    with Image.open(shot) as im:
        colours = im.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50
    assert max(n for n, _ in colours) < 0.9 * sum(n for n, _ in colours)  # not one flat colour


def test_compare_view_lists_disagreements_first(browser, toy_report, tmp_path):
    work = toy_report.parent
    other = bench.synthetic_judgments(work / "toy" / "items.jsonl", tmp_path / "other.jsonl", seed=99, judge="judge-2")
    page = tmp_path / "cmp.html"
    assert main(["view", str(work / "judgments.jsonl"), "--compare", str(other), "--output", str(page)]) == 0
    _open(browser, page)
    assert browser.get_log("browser") == []
    assert all(u.startswith(("file:", "data:")) for u in _requests(browser))
    assert not browser.find_element("id", "f-wrong").is_displayed()  # no gold, no "wrong"

    def combined(path):
        votes: dict[str, list] = {}
        for j in map(json.loads, path.read_text().splitlines()):
            votes.setdefault(j["id"], []).append(j.get("winner"))
        return {i: (v[0] if None not in v and len(set(v)) == 1 else None if None in v else "tie")
                for i, v in votes.items()}

    a, b = combined(work / "judgments.jsonl"), combined(other)
    disagree = [i for i in a if a[i] != b[i]]
    assert 0 < len(disagree) < len(a)
    cards = browser.find_elements("css selector", ".card")
    order = [c.get_attribute("data-id") for c in cards]
    assert order[:len(disagree)] == disagree  # disagreements first, in file order
    assert len(browser.find_elements("css selector", ".card .judges.two")) == len(cards)


def test_lazy_rendering_and_no_gold(browser, tmp_path):
    js = [pj(f"n{k:04d}", "AB"[k % 2], swapped) for k in range(130) for swapped in (False, True)]
    page = write_browser(tmp_path / "lazy.html", js).path
    _open(browser, page)
    assert len(browser.find_elements("css selector", ".card")) == 50
    browser.execute_script("document.getElementById('more').click()")
    assert len(browser.find_elements("css selector", ".card")) == 100
    assert browser.get_log("browser") == []


@pytest.mark.slow
def test_20000_judgments_become_interactive_quickly(browser, tmp_path):
    report = bench.toy_eval(tmp_path, 10000, n_resamples=100)
    html, linked = bench.page_weight(report)
    r = bench.measure_page(browser, report / "report.html")
    print(f"20,000 judgments: ready {r['ready_ms']:.0f} ms, load {r['load_ms']:.0f} ms, filter {r['filter_wrong_ms']:.0f} ms, "
          f"search {r['search_ms']:.0f} ms; page {html / 2**20:.1f} MB + {linked / 2**20:.1f} MB linked")
    assert r["n_items"] == 10000 and r["cards"] == 50
    assert r["ready_ms"] < 5000 and r["filter_wrong_ms"] < 1000 and r["search_ms"] < 1000


def test_pointwise_page_in_chromium(browser, tmp_path):
    from critic.toy.world import make_toy

    make_toy(tmp_path / "toy", n=12, seed=5, task="pointwise")
    items = [json.loads(x) for x in (tmp_path / "toy" / "items.jsonl").read_text().splitlines()]
    rows = [PointwiseJudgment(id=it["id"], score=None if k == 4 else min(10.0, max(1.0, it["score"] + (k % 3 - 1) * 2)),
                              template="llava_critic_pointwise", template_hash="h", judge="j",
                              **({"parse_error": "no score", "raw": "<b>hmm</b>"} if k == 4 else {"rationale": "fine"}))
            for k, it in enumerate(items)]
    (tmp_path / "j.jsonl").write_text("".join(json.dumps(r.to_json_dict()) + "\n" for r in rows))
    page = tmp_path / "p.html"
    assert main(["view", str(tmp_path / "j.jsonl"), "--gold", str(tmp_path / "toy" / "items.jsonl"), "--output", str(page),
                 "--n-resamples", "20"]) == 0
    _open(browser, page)
    assert browser.get_log("browser") == []
    assert not browser.find_element("id", "f-od").is_displayed()  # no orders for scores
    expected = [e["id"] for e in page_data(tmp_path / "j.jsonl", gold=tmp_path / "toy" / "items.jsonl")["items"]
                if e["f"].get("wrong")]
    browser.find_element("id", "f-wrong").click()
    assert _shown(browser) == expected and items[4]["id"] in expected
    from selenium.webdriver.common.action_chains import ActionChains

    assert browser.switch_to.active_element.get_attribute("id") == "f-wrong"
    ActionChains(browser).send_keys("j").perform()  # the checkbox has the focus: j still steps
    assert browser.find_element("css selector", ".card.current").get_attribute("data-id") == expected[0]
    assert browser.find_element("css selector", ".perr pre").text == "<b>hmm</b>"  # raw text shown as text


def test_a_page_that_cannot_be_written_leaves_the_report_standing(tmp_path, monkeypatch, capsys):
    gold, js = _mixed()
    (tmp_path / "j.jsonl").write_text("".join(json.dumps(j.to_json_dict()) + "\n" for j in js))
    (tmp_path / "g.jsonl").write_text("".join(json.dumps(g) + "\n" for g in gold))

    def broken(*a, **k):
        raise ValueError("boom")

    monkeypatch.setattr("critic.evaluation.browser.page_data", broken)
    with pytest.warns(RuntimeWarning, match="report.html not written: ValueError: boom"):
        assert main(["eval", "--gold", str(tmp_path / "g.jsonl"), "--judgments", str(tmp_path / "j.jsonl"),
                     "--out", str(tmp_path / "r"), "--n-resamples", "20", "--no-plots"]) == 0
    assert (tmp_path / "r" / "report.json").is_file() and not (tmp_path / "r" / "report.html").exists()
    assert "accuracy_with_ties" in capsys.readouterr().out
