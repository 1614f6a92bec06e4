"""The oracle teacher: judged through critic's own OpenAI stack, it agrees with the toy world's gold.

Every shipped template is exercised (toy items get a reference answer, so the reference-needing
templates fit too): the oracle reads the prompt, decodes the image it was sent and answers in the
format the prompt asks for; critic parses the answer with the template's own parser.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from critic.data.samples import gold_verdict
from critic.judging.templates import list_templates, load_template
from critic.records import PairwiseItem, PointwiseItem
from critic.toy.chat_server import ChatServer
from critic.toy.oracle import default_formats, oracle_answer, prompt_text
from critic.toy.scene import parse_question
from critic.toy.world import generate_items

ROOT = Path(__file__).resolve().parent.parent
N = 24  # items per task and template


def _with_reference(item, images):
    meta = item.meta or {}
    from critic.toy.rationale import fact as brief_fact

    return item.model_copy(update={"reference": brief_fact(parse_question(item.question), meta["truth"])}), images


@pytest.fixture(scope="module")
def toy_items(tmp_path_factory):
    """Pointwise and pairwise toy items (all question kinds, two-claim answers) with reference answers."""
    d = tmp_path_factory.mktemp("oracle_items")
    out = {}
    for task, seed in (("pointwise", 11), ("pairwise", 12)):
        rows = []
        for k, (item, images) in enumerate(generate_items(N, seed, task)):
            path = d / f"{task}{k}.png"
            images[0].save(path)
            item, _ = _with_reference(item, images)
            rows.append(item.model_copy(update={"images": [str(path)]}))
        out[task] = rows
    return out


@pytest.fixture(scope="module")
def oracle_server():
    with ChatServer(oracle_answer) as srv:
        yield srv


def _agreement(template, items, srv):
    from critic.judging.critic import Critic

    critic = Critic.from_openai("oracle", base_url=srv.base_url, template=template, progress=False, concurrency=8)
    if template.task == "pairwise":
        usable = [it for it in items if template.allows_tie or it.label != "tie"]
        judgments = [c.judgments[0] for c in critic.compare(usable)]
    else:
        usable = items
        judgments = critic.score(usable)
    agree = 0
    for item, j in zip(usable, judgments):
        assert j.error is None, j.error
        gold = gold_verdict(item, template, gold_scale=(1, 10))
        if template.task == "pointwise":
            agree += j.score == gold.score
        else:
            agree += j.winner == gold.winner and (gold.scores is None or tuple(j.scores) == gold.scores)
    return agree / len(usable), len(usable)


@pytest.mark.parametrize("name", [t.name for t in list_templates()])
def test_oracle_agrees_with_gold_on_every_shipped_template(name, toy_items, oracle_server):
    template = load_template(name)
    rate, n = _agreement(template, toy_items[template.task], oracle_server)
    assert n >= N // 2
    assert rate >= 0.95, f"{name}: oracle agrees with gold on {rate:.0%} of {n} items"


def test_explain_prompt_ends_with_the_given_verdict(toy_items):
    from critic.data.recipe import DEFAULT_EXPLAIN_INSTRUCTION
    from critic.data.teacher import ExplainTemplate
    from critic.media import load_image

    base = load_template("llava_bench_pair")
    t = ExplainTemplate.wrap(base, DEFAULT_EXPLAIN_INSTRUCTION, (1, 10))
    item = toy_items["pairwise"][0]
    prompt = t.render_prompt(item)
    body = {"messages": [{"role": "user", "content": [{"type": "text", "text": p["text"]}
                                                      for p in prompt.parts if p["type"] == "text"]}]}
    answer = oracle_answer(body, [load_image(item.images[0])])
    parsed = base.parse(answer)
    assert parsed.verdict == gold_verdict(item, base, (1, 10))
    assert answer.splitlines()[0] == base.spec.render(parsed.verdict)  # this format puts the scores first
    assert "The image shows" in parsed.rationale


def test_non_toy_prompt_gets_a_neutral_parseable_answer():
    t = load_template("mllm_judge_pair")
    item = PairwiseItem(id="x", question="Rewrite this sentence.", response_a="One.", response_b="Two.")
    prompt = t.render_prompt(item)
    body = {"messages": [{"role": "system", "content": prompt.system},
                         {"role": "user", "content": [{"type": "text", "text": prompt.text}]}]}
    assert "Rewrite this sentence." in prompt_text(body)
    parsed = t.parse(oracle_answer(body, []))
    assert parsed.ok and parsed.verdict.winner == "tie"
    p = load_template("json_score_10")
    parsed = p.parse(oracle_answer({"messages": [{"role": "user", "content": p.render_prompt(
        PointwiseItem(id="y", question="Why?", response="Because.")).text}]}, []))
    assert parsed.ok and parsed.verdict.score in (5.0, 6.0)


def test_oracle_data_names_no_template():
    """The oracle keys on phrases found in prompts, never on critic's template names."""
    names = {t.name for t in list_templates()}
    for path in (ROOT / "critic" / "toy" / "oracle.py", ROOT / "critic" / "toy" / "oracle_formats.yaml",
                 ROOT / "critic" / "data" / "sources" / "prompt_fields.yaml"):
        text = path.read_text()
        hits = sorted(n for n in names if re.search(rf"\b{re.escape(n)}\b", text))
        assert not hits, f"{path.name} names templates {hits}"
    assert len(default_formats().formats) >= len(names) - 2  # a format entry for (nearly) every layout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_toy_teacher_command_serves_the_oracle(toy_items):
    from openai import OpenAI

    from critic.judging.backends.openai_compat import to_chat_messages
    from critic.media import to_data_url

    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "critic", "toy", "teacher", "--port", str(port),
                             "--latency", "0.01"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert "serving chat completions" in proc.stdout.readline()
        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=2)
        t = load_template("llava_critic_pointwise")
        item = toy_items["pointwise"][1]
        prompt = t.render_prompt(item)
        msgs = to_chat_messages(prompt.messages(), [to_data_url(item.images[0])])
        t0 = time.perf_counter()
        text = client.chat.completions.create(model="oracle", messages=msgs).choices[0].message.content
        assert time.perf_counter() - t0 >= 0.01
        assert t.parse(text).verdict == gold_verdict(item, t, (1, 10))
    finally:
        proc.kill()
        proc.wait()
