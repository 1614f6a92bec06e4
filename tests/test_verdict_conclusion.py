"""The verdict is read only from the critic's concluding verdict, as the template places it — never from
verdict-like text quoted earlier, and never from an output cut off before it concludes (issue 14.10).

Properties over every shipped template (16): a quoted verdict followed by more text is a parse failure; a
prefix of an output, cut inside the text after a quoted verdict, is a parse failure; the real verdict after
a quoted one is read; the render / parse round trip holds with trailing whitespace and markdown.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_verdicts import _verdicts as verdicts

from critic.judging.templates import list_templates, load_template
from critic.judging.verdicts import Verdict

TEMPLATES = [t.name for t in list_templates()]
# Words that no template reads as (part of) a verdict: no digits, brackets, "score", "verdict", "better"...
WORDS = ["the", "image", "shows", "red", "circle", "and", "it", "looks", "fine", "then", "although", "colour",
         "answer", "mentions", "square", "above", "count"]
_words = st.lists(st.sampled_from(WORDS), min_size=1, max_size=8).map(" ".join)
_RATIONALE = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?()'-\n[]",
                     max_size=120)
SETTINGS = settings(max_examples=40, deadline=None, derandomize=True)


def goes_on(words: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Text after a quoted verdict that is not the end of the critic's verdict sentence."""
    return st.one_of(
        words.map(lambda w: f"\n{w}"),                 # a new line
        words.map(lambda w: f"\n\n{w}."),              # a new paragraph
        words.map(lambda w: f". {w.capitalize()}."),   # a new sentence
        words.map(lambda w: f" {w}"),                  # an unfinished sentence (cut off)
        words.map(lambda w: f") {w}."),                # the quote was in parentheses
        words.map(lambda w: f'" {w}.'),                # ... or in quotation marks
    )


def test_every_shipped_template_is_covered() -> None:
    """issue 14.10: the properties below run over all 16 shipped templates."""
    assert len(TEMPLATES) == 16


@pytest.mark.parametrize("name", TEMPLATES)
def test_a_quoted_verdict_followed_by_more_text_is_no_verdict(name: str) -> None:
    """issue 14.10: the parser took the last match anywhere (``Overall score: 20 ... (score of 100)`` read 100)."""
    t = load_template(name)

    @SETTINGS
    @given(before=_words, quoted=verdicts(t), after=goes_on(_words))
    def check(before: str, quoted: Verdict, after: str) -> None:
        q = t.spec.render(quoted)
        text = f"{before} {q}{after}" if t.spec.position == "last" else f"{before}\n{q}\n{after.strip()}"
        r = t.parse(text)
        assert not r.ok and r.verdict is None and r.error, (text, r)
        assert "no concluding verdict" in r.error or "no opening verdict" in r.error, (text, r)

    check()


@pytest.mark.parametrize("name", [n for n in TEMPLATES if load_template(n).spec.position == "last"])
def test_an_output_cut_off_after_a_quoted_verdict_is_no_verdict(name: str) -> None:
    """issue 14.10: a cut-off output quoting ``[[B]]`` parsed as B; cut before its conclusion, it is a failure."""
    t = load_template(name)

    @SETTINGS
    @given(before=_words, quoted=verdicts(t), rest=_words, verdict=verdicts(t), data=st.data())
    def check(before: str, quoted: Verdict, rest: str, verdict: Verdict, data: st.DataObject) -> None:
        lead = f"{before} I first thought {t.spec.render(quoted)} "
        full = t.render_target(f"{lead}{rest}, yet on reflection no.", verdict)
        start = full.index(lead) + len(lead)  # the target may wrap the rationale (<feedback>, Feedback:)
        cut = data.draw(st.integers(start + 1, start + len(rest)), label="cut")  # inside `rest`
        r = t.parse(full[:cut])
        assert not r.ok and r.verdict is None, (full[:cut], r)
        assert t.parse(full).verdict == verdict  # the whole output concludes, and is read

    check()


@pytest.mark.parametrize("name", TEMPLATES)
def test_the_concluding_verdict_is_read_after_a_quoted_one(name: str) -> None:
    """issue 14.10: quoting the format in the reasoning is fine; the verdict the target concludes with counts."""
    t = load_template(name)

    @SETTINGS
    @given(before=_words, quoted=verdicts(t), after=_words, verdict=verdicts(t))
    def check(before: str, quoted: Verdict, after: str, verdict: Verdict) -> None:
        rationale = f"{before} (not {t.spec.render(quoted)}) and {after}."
        r = t.parse(t.render_target(rationale, verdict))
        assert r.ok and r.verdict == verdict, r

    check()


@pytest.mark.parametrize("name", TEMPLATES)
def test_round_trip_with_trailing_space_and_markdown(name: str) -> None:
    """issue 14.10: ``parse(render_target(v)) == v`` still holds, with whitespace or emphasis after the end."""
    t = load_template(name)

    @SETTINGS
    @given(rationale=_RATIONALE, verdict=verdicts(t), tail=st.sampled_from(["", "\n", "  \n\n", "\n\n\n"]))
    def check(rationale: str, verdict: Verdict, tail: str) -> None:
        target = t.render_target(rationale, verdict)
        r = t.parse(target + tail)
        assert r.verdict == verdict and r.rationale == rationale.strip(), (target, r)

    check()


@pytest.mark.parametrize(("name", "text", "verdict"), [
    ("mllm_judge_pair", "A quotes the answer key, [[B]], and then", None),
    ("mllm_judge_pair", "A quotes the answer key, [[B]], and then it stops.\nFinal verdict: [[A]]", "A"),
    ("llava_critic_pointwise", "The response is weak.\nOverall score: 20\n\nA perfect one (score of 100)", None),
    ("llava_critic_pointwise", "The response is weak (a score of 100 needs the colour).\nOverall score: 20", 20),
    ("llava_critic_pairwise", "Overall, the first response is clearly better than the second.", "A"),
    ("llava_critic_pairwise", "Overall, the first response is clearly better than the second one, and", None),
    ("prometheus_absolute", "Feedback: fine. [RESULT] 4\n\nNote: a 5 would need", None),
    ("llava_bench_pair", "Let me think.\n7 9\nAssistant 2 is better.", None),
])
def test_the_issue_s_examples(name: str, text: str, verdict) -> None:
    """issue 14.10: the reported outputs, and their concluded counterparts."""
    r = load_template(name).parse(text)
    if verdict is None:
        assert not r.ok and r.verdict is None, r
    else:
        assert r.ok and (r.verdict.score if r.verdict.score is not None else r.verdict.winner) == verdict, r
