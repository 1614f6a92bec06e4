"""Verdict parsing: real-world output variants per format, refusals, and the render/parse round trip."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from critic.judging.templates import list_templates, load_template
from critic.judging.verdicts import ParseResult, Verdict, VerdictSpec, fmt_number

S = Verdict  # shorthand in the tables: S(score=..), S(winner=..), S(scores=..)

# (template, text, expected verdict or None, expected rationale or substring of the error)
CASES = [
    # ---- [[N]] on 1-5 (mllm_judge_score) ----
    ("mllm_judge_score", "The answer is right.\n\nRating: [[4]]", S(score=4), "The answer is right."),
    ("mllm_judge_score", "Good.\n**Rating: [[5]]**", S(score=5), "Good."),
    ("mllm_judge_score", "Fine. `[[3]]`.", S(score=3), "Fine."),
    ("mllm_judge_score", "I must answer as \"Rating: [[rating]]\", e.g. [[5]]. It is wrong.\nRating: [[1]]",
     S(score=1), 'I must answer as "Rating: [[rating]]", e.g. [[5]]. It is wrong.'),
    ("mllm_judge_score", "rating:[[ 2 ]]", S(score=2), ""),
    ("mllm_judge_score", "Rating: [[7]]", None, "outside the scale 1–5"),
    ("mllm_judge_score", "Rating: [[0]]", None, "outside the scale"),
    ("mllm_judge_score", "Rating: [[3.5]]", None, "not an integer"),
    ("mllm_judge_score", "Rating: 4", None, "no verdict found"),
    ("mllm_judge_score", "   \n ", None, "empty output"),
    ("mllm_judge_score", "Rating: [[4/10]]", None, "out of 10"),
    # ---- [[A]] / [[B]] / [[C]] (mllm_judge_pair) ----
    ("mllm_judge_pair", "A is vague; B names the colour.\n\nFinal verdict: [[B]]", S(winner="B"),
     "A is vague; B names the colour."),
    ("mllm_judge_pair", "Both are right. [[C]]", S(winner="tie"), "Both are right."),
    ("mllm_judge_pair", "Hmm.\n### Final Verdict: **[[a]]**", S(winner="A"), "Hmm."),
    ("mllm_judge_pair", "Output [[A]] if A is better... Actually B wins. [[B]]", S(winner="B"),
     "Output [[A]] if A is better... Actually B wins."),
    ("mllm_judge_pair", "[[tie]]", S(winner="tie"), ""),
    ("mllm_judge_pair", "I prefer assistant A.", None, "no verdict found"),
    ("mllm_judge_pair", "[[D]]", None, "no verdict found"),
    ("mllm_judge_pair", "", None, "empty output"),
    # ---- WildVision five-way ----
    ("wildvision_pair", "A hallucinates a dog.\n\nMy final verdict is: [[B>>A]]", S(winner="B"),
     "A hallucinates a dog."),
    ("wildvision_pair", "Close call. My final verdict is tie: [[A=B]].", S(winner="tie"), "Close call."),
    ("wildvision_pair", "x\n**My final verdict is Assistant A is slightly better: [[A>B]]**", S(winner="A"), "x"),
    ("wildvision_pair", "Verdict [[ B > A ]]", S(winner="B"), "Verdict"),
    ("wildvision_pair", "[[A<B]]", S(winner="B"), ""),
    ("wildvision_pair", "Assistant A is better.", None, "no verdict found"),
    ("wildvision_pair", "[[A>>>B]]", None, "no verdict found"),
    # ---- Prometheus absolute [RESULT] N ----
    ("prometheus_absolute", "Feedback: Accurate and complete. [RESULT] 5", S(score=5), "Accurate and complete."),
    ("prometheus_absolute", "The response misses the cat. [RESULT] 2", S(score=2), "The response misses the cat."),
    ("prometheus_absolute", "Feedback: ok\n\n[RESULT]: 3.", S(score=3), "ok"),
    ("prometheus_absolute", "Meh. [RESULT] 4/5", S(score=4), "Meh."),
    ("prometheus_absolute", "Good. [RESULT] 6", None, "outside the scale"),
    ("prometheus_absolute", "Good. [RESULT] 4-5", None, "ambiguous"),
    ("prometheus_absolute", "Good. [RESULT] four", None, "no verdict found"),
    ("prometheus_absolute", "Good. Score: 4", None, "no verdict found"),
    # ---- Prometheus relative [RESULT] A/B, no ties ----
    ("prometheus_relative", "Feedback: Response B is grounded. [RESULT] B", S(winner="B"), "Response B is grounded."),
    ("prometheus_relative", "A wins. [RESULT] \"A\"", S(winner="A"), "A wins."),
    ("prometheus_relative", "A wins. [RESULT] Response A", S(winner="A"), "A wins."),
    ("prometheus_relative", "Equal. [RESULT] tie", None, "does not allow ties"),
    ("prometheus_relative", "Equal. [RESULT] C", None, "does not allow ties"),
    ("prometheus_relative", "Response A is better.", None, "no verdict found"),
    # ---- LLaVA-Critic pointwise: Overall score: N (1-100) ----
    ("llava_critic_pointwise", "The response names the colour.\n\nOverall score: 85", S(score=85),
     "The response names the colour."),
    ("llava_critic_pointwise", "Mostly right. Therefore, the overall score is 72.", S(score=72), "Mostly right."),
    ("llava_critic_pointwise", "Wrong count. Score: 30/100", S(score=30), "Wrong count."),
    ("llava_critic_pointwise", "Fine.\n**Overall Score:** 90", S(score=90), "Fine."),
    ("llava_critic_pointwise", "I would rate it 64 out of 100.", S(score=64), ""),
    ("llava_critic_pointwise", "Overall score: 8/10", None, "out of 10"),
    ("llava_critic_pointwise", "Overall score: 120", None, "outside the scale 1–100"),
    ("llava_critic_pointwise", "Overall score: 70-80", None, "ambiguous"),
    ("llava_critic_pointwise", "It is a decent answer.", None, "no verdict found"),
    # ---- LLaVA-Critic pairwise: first / second / equally ----
    ("llava_critic_pairwise", "The first response misreads the sign.\n\nTherefore, the second response is better.",
     S(winner="B"), "The first response misreads the sign."),
    ("llava_critic_pairwise", "Both are accurate. Two responses are equally good.", S(winner="tie"),
     "Both are accurate."),
    ("llava_critic_pairwise", "Overall, the first response is clearly better than the second.", S(winner="A"), ""),
    ("llava_critic_pairwise", "At first the second answer is better... but in conclusion the first one is better.",
     S(winner="A"), "At first the second answer is better... but"),
    ("llava_critic_pairwise", "**Thus, the Second Response is superior.**", S(winner="B"), ""),
    ("llava_critic_pairwise", "I cannot decide.", None, "no verdict found"),
    ("llava_critic_pairwise", "The first response is worse.", None, "no verdict found"),
    # ---- LLaVA-Bench two scores on the first line ----
    ("llava_bench_pair", "7 9\nAssistant 2 is more detailed.", S(scores=(7, 9)), "Assistant 2 is more detailed."),
    ("llava_bench_pair", "8, 8\nBoth fine.", S(scores=(8, 8)), "Both fine."),
    ("llava_bench_pair", "**9 6**\n\nAssistant 1 is right.", S(scores=(9, 6)), "Assistant 1 is right."),
    ("llava_bench_pair", "Scores: 6.5 7\nClose.", S(scores=(6.5, 7)), "Close."),
    ("llava_bench_pair", "7 9\nLater I restate: 9 7", S(scores=(7, 9)), "Later I restate: 9 7"),
    ("llava_bench_pair", "11 9\nx", None, "first score 11 is outside the scale 1–10"),
    ("llava_bench_pair", "7 8 9\nthree scores", None, "no verdict found"),
    ("llava_bench_pair", "Assistant 1 scores 7 and Assistant 2 scores 9.", None, "no verdict found"),
    # ---- Score: N/10 with reference ----
    ("reference_score_10", "Matches the reference.\n\nScore: 9/10", S(score=9), "Matches the reference."),
    ("reference_score_10", "Partly.\n**Score:** 6", S(score=6), "Partly."),
    ("reference_score_10", "Wrong. Final score: 2 out of 10.", S(score=2), "Wrong."),
    ("reference_score_10", "A score of 3 on detail, but overall\nRating: 7/10", S(score=7),
     "A score of 3 on detail, but overall"),
    ("reference_score_10", "Score: 4/5", None, "out of 5"),
    ("reference_score_10", "Score: 7.5/10", None, "not an integer"),
    ("reference_score_10", "Score: 7 or 8", None, "ambiguous"),
    ("reference_score_10", "Score: 0/10", None, "outside the scale"),
    ("reference_score_10", "Score: N/A", None, "no verdict found"),
    # ---- JSON {"score": N} ----
    ("json_score_10", 'Looks right.\n\n{"score": 8}', S(score=8), "Looks right."),
    ("json_score_10", "Reasoning.\n```json\n{\"score\": 3}\n```", S(score=3), "Reasoning."),
    ("json_score_10", "ok {'score': '10'}", S(score=10), "ok"),
    ("json_score_10", '{"score":1}', S(score=1), ""),
    ("json_score_10", '{"score": 11}', None, "outside the scale"),
    ("json_score_10", '{"score": null}', None, "no verdict found"),
    ("json_score_10", '{"rating": 5}', None, "no verdict found"),
    # ---- Final score on 0-100 ----
    ("score_0_100", "Critique.\n\nFinal score: 0", S(score=0), "Critique."),
    ("score_0_100", "Critique.\n\n## Final score: 100", S(score=100), "Critique."),
    ("score_0_100", "c\nFinal Score = 55.", S(score=55), "c"),
    ("score_0_100", "Final score: 101", None, "outside the scale 0–100"),
    ("score_0_100", "Final score: -5", None, "outside the scale"),
    ("score_0_100", "Final score: 45.5", None, "not an integer"),
    ("score_0_100", "Final score: 40 to 50", None, "ambiguous"),
    # ---- XML <score> (flow_judge_5) ----
    ("flow_judge_5", "<feedback>\nGood answer.\n</feedback>\n<score>\n4\n</score>", S(score=4), "Good answer."),
    ("flow_judge_5", "<feedback>Bad.</feedback><score>1</score>", S(score=1), "Bad."),
    ("flow_judge_5", "No tags, just text.\n<score> 3 </score>", S(score=3), "No tags, just text."),
    ("flow_judge_5", "<feedback>x</feedback>\n<score>\n9\n</score>", None, "outside the scale"),
    ("flow_judge_5", "<feedback>x</feedback>\n<score>\n</score>", None, "no verdict found"),
    ("flow_judge_5", "<feedback>x</feedback>\n<score>3", None, "no verdict found"),
    # ---- Output (a) / (b), no ties ----
    ("alpaca_cot_pair", "(a) misses the sign.\n\nPreferred: Output (b)", S(winner="B"), "(a) misses the sign."),
    ("alpaca_cot_pair", "Output (a)", S(winner="A"), ""),
    ("alpaca_cot_pair", "Better output: **Output (A)**.", S(winner="A"), ""),
    ("alpaca_cot_pair", "Both wrong.\nPreferred: tie", None, "does not allow ties"),
    ("alpaca_cot_pair", "Preferred: neither", None, "does not allow ties"),
    ("alpaca_cot_pair", "Preferred: (c)", None, "no verdict found"),
    # ---- Final verdict: Response A / B / Tie (reference_pair) ----
    ("reference_pair", "Only A matches the reference.\n\nFinal verdict: Response A", S(winner="A"),
     "Only A matches the reference."),
    ("reference_pair", "Same.\nFinal verdict: Tie", S(winner="tie"), "Same."),
    ("reference_pair", "**Verdict:** B", S(winner="B"), ""),
    ("reference_pair", "Final verdict: a tie.", S(winner="tie"), ""),
    ("reference_pair", "Final verdict: Response C", None, "no verdict found"),
    ("reference_pair", "B is better.", None, "no verdict found"),
    # ---- compact templates (short targets for small critics) ----
    ("compact_pointwise", "The circle is red.\nScore: 10", S(score=10), "The circle is red."),
    ("compact_pointwise", "Wrong colour. score: 2/10", S(score=2), "Wrong colour."),
    ("compact_pointwise", "The circle is red.\n**Score: 7**", S(score=7), "The circle is red."),
    ("compact_pointwise", "Score: 11", None, "outside the scale 1–10"),
    ("compact_pointwise", "Score: 3-4", None, "ambiguous"),
    ("compact_pointwise", "Rating: 4", None, "no verdict found"),
    ("compact_pairwise", "The circle is red.\nVerdict: A", S(winner="A"), "The circle is red."),
    ("compact_pairwise", "Both say red.\nverdict: tie", S(winner="tie"), "Both say red."),
    ("compact_pairwise", "The circle is red.\n**Verdict: B**", S(winner="B"), "The circle is red."),
    ("compact_pairwise", "Verdict: C", None, "no verdict found"),
    ("compact_pairwise", "B is better.", None, "no verdict found"),
    ("compact_pairwise", "", None, "empty output"),
]


@pytest.mark.parametrize("name,text,verdict,expected", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_parse_table(name: str, text: str, verdict: Verdict | None, expected: str) -> None:
    r = load_template(name).parse(text)
    assert isinstance(r, ParseResult)
    if verdict is None:
        assert not r.ok and r.verdict is None and r.rationale is None
        assert r.error and expected in r.error
    else:
        assert r.ok and r.error is None, r.error
        assert r.verdict == verdict
        assert r.rationale == expected


def test_each_family_has_enough_cases() -> None:
    counts: dict[str, list[int]] = {}
    for name, _, verdict, _ in CASES:
        counts.setdefault(name, [0, 0])[verdict is None] += 1
    for t in list_templates():
        good, bad = counts.get(t.name, [0, 0])
        assert good + bad >= 6 and good >= 2 and bad >= 2, t.name


def test_never_a_default_number() -> None:
    for t in list_templates():
        for junk in ("", "garbage", "I refuse to grade this.", "1 2 3 4 5 6"):
            r = t.parse(junk)
            assert r.verdict is None and r.error, (t.name, junk)


def test_verdict_record_rules() -> None:
    with pytest.raises(ValueError):
        Verdict()
    with pytest.raises(ValueError):
        Verdict(winner="C")
    with pytest.raises(ValueError):
        Verdict(scores=(7, 9), winner="A")
    with pytest.raises(ValueError):
        Verdict(score=float("nan"))
    assert Verdict(scores=(7, 9), winner="B") == Verdict(scores=(7.0, 9.0))
    for v in (Verdict(score=3), Verdict(winner="tie"), Verdict(scores=(1, 2))):
        assert Verdict.from_dict(v.to_dict()) == v


def test_check_rejects_invalid_verdicts() -> None:
    t = load_template("mllm_judge_score")
    for bad in (Verdict(score=6), Verdict(score=2.5), Verdict(winner="A")):
        with pytest.raises(ValueError, match="mllm_judge_score"):
            t.check(bad)
    with pytest.raises(ValueError, match="ties"):
        load_template("prometheus_relative").check(Verdict(winner="tie"))
    with pytest.raises(ValueError, match="two scores"):
        load_template("llava_bench_pair").check(Verdict(winner="A"))
    with pytest.raises(ValueError):
        load_template("mllm_judge_pair").render_target("x", Verdict(score=3))


def test_spec_validation_messages() -> None:
    base = {"kind": "score", "scale": [1, 5], "format": "[[{score}]]", "patterns": [r"\[\[(?P<score>{NUM})\]\]"]}
    VerdictSpec.from_header(base)
    for change, msg in [
        ({"kind": "stars"}, "verdict.kind"),
        ({"scale": [5, 1]}, "verdict.scale"),
        ({"format": "[[N]]"}, "verdict.format"),
        ({"patterns": [r"\[\[(?P<rating>\d)\]\]"]}, "named group"),
        ({"patterns": ["(unclosed"]}, "invalid regex"),
        ({"colour": "red"}, "unknown key"),
    ]:
        with pytest.raises(ValueError, match=msg):
            VerdictSpec.from_header({**base, **change})
    with pytest.raises(ValueError, match="no token maps to 'B'"):
        VerdictSpec.from_header({"kind": "choice", "choices": {"A": "A"}, "format": "{token}",
                                 "patterns": ["(?P<choice>A)"]})


# ---- property: what the target writes, the parser reads back --------------------------------

_RATIONALE = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?()'-\n[]",
                     max_size=200)


def _verdicts(t) -> st.SearchStrategy[Verdict]:
    spec = t.spec
    if spec.kind == "choice":
        return st.sampled_from([v for v in spec.examples()])
    lo, hi = spec.scale
    if spec.integer:
        num = st.integers(int(lo), int(hi)).map(float)
    else:
        num = st.integers(int(lo * 100), int(hi * 100)).map(lambda x: x / 100)
    if spec.kind == "score":
        return num.map(lambda s: Verdict(score=s))
    pair = st.tuples(num, num)
    if not spec.allows_tie:
        pair = pair.filter(lambda p: p[0] != p[1])
    return pair.map(lambda p: Verdict(scores=p))


@pytest.mark.parametrize("name", [t.name for t in list_templates()])
def test_round_trip(name: str) -> None:
    t = load_template(name)

    @settings(max_examples=50, deadline=None, derandomize=True)
    @given(rationale=_RATIONALE, verdict=_verdicts(t))
    def check(rationale: str, verdict: Verdict) -> None:
        target = t.render_target(rationale, verdict)
        r = t.parse(target)
        assert r.verdict == verdict, (target, r)
        assert r.rationale == rationale.strip(), (target, r)

    check()


@pytest.mark.parametrize("name", ["mllm_judge_score", "llava_critic_pairwise", "wildvision_pair"])
def test_reads_the_last_verdict_when_the_rationale_has_one(name: str) -> None:
    t = load_template(name)
    first, last = t.spec.examples()[:2]
    rationale = "I considered " + t.spec.render(first) + " at first, then changed my mind."
    r = t.parse(t.render_target(rationale, last))
    assert r.verdict == last and r.rationale == rationale


def test_fmt_number_round_trips_two_decimals() -> None:
    for x in (0.01, 1.1, 9.99, 100.0):
        assert float(fmt_number(x)) == x
