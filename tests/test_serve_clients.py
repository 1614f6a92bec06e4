"""Clients of ``critic serve`` beside ``RemoteCritic`` itself: a ``critic dpo`` critic section, TRL's
reward function and pairwise judge, and OpenRLHF queries cut with ``--policy-tokenizer``.

A real server on a free loopback port (bearer token on), the oracle judge behind it, and the same
oracle judge in process: what goes through the server must come out as it does in process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from critic.judging.factory import make_critic  # noqa: E402
from critic.judging.spec import JudgeSpec  # noqa: E402
from critic.judging.trl_adapters import CriticPairwiseJudge, CriticRewardFunc  # noqa: E402
from critic.records import UnknownKeysWarning  # noqa: E402
from critic.serving.client import RemoteCritic  # noqa: E402
from critic.serving.run import ServeOptions, ServerThread  # noqa: E402
from critic.toy.chat_server import ChatServer  # noqa: E402
from critic.toy.oracle import oracle_answer  # noqa: E402
from critic.toy.world import generate_items  # noqa: E402

TOKEN = "s3cret"


def texts(body: dict) -> list[str]:
    """The text of a chat request, images left out: what the judge read."""
    out = []
    for m in body["messages"]:
        content = m["content"]
        out += [content] if isinstance(content, str) else [p["text"] for p in content if p.get("type") == "text"]
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Toy pointwise items with their images on disk, the oracle judge (recording what it reads), the items file."""
    root = tmp_path_factory.mktemp("serve_clients")
    seen: list[list[str]] = []

    def answer(body, images):
        seen.append(texts(body))
        return oracle_answer(body, images)

    items = []
    with open(root / "items.jsonl", "w") as f:
        for n, (item, images) in enumerate(generate_items(6, seed=3, task="pointwise")):
            images[0].save(root / f"{n}.png")
            items.append(item.model_copy(update={"images": [str(root / f"{n}.png")]}))
            f.write(json.dumps({"id": item.id, "question": item.question, "images": [f"{n}.png"]}) + "\n")
    with ChatServer(answer) as oracle:
        yield {"root": root, "items": items, "oracle": oracle, "seen": seen}


def oracle_spec(world) -> dict:
    return {"backend": "openai", "model": "oracle", "base_url": [world["oracle"].base_url], "no_cache": True}


@pytest.fixture(scope="module")
def local(world):
    return make_critic(JudgeSpec(**oracle_spec(world)), progress=False)


@pytest.fixture(scope="module")
def server(world, local):
    with ServerThread(local, ServeOptions(port=0, token=TOKEN, items=str(world["root"] / "items.jsonl"))) as srv:
        yield srv


# ------------------------------------------------------------------------------------------ critic dpo

def test_dpo_critic_section_remote_labels_a_round_as_in_process(world, server, tmp_path, monkeypatch):
    """A round's labelling (samples already drawn) with ``critic: {backend: remote}``: the same pairs as in process.

    The token comes from $CRITIC_API_KEY; the OpenAI key the in-process judge reads is not sent.
    """
    from critic.dpo.config import load_dpo_config_dict
    from critic.dpo.loop import _label_round
    from critic.dpo.loop import make_critic as dpo_critic
    from critic.jsonl import write_records

    monkeypatch.setenv("CRITIC_API_KEY", TOKEN)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-for-openai-only")
    sets = []
    for n, (cset, imgs) in enumerate(generate_items(4, seed=9, task="candidates", k=4)):
        imgs[0].save(tmp_path / f"set{n}.png")
        sets.append(cset.model_copy(update={"images": [str(tmp_path / f"set{n}.png")]}))
    got = {}
    for name, critic in (("local", oracle_spec(world)), ("remote", {"backend": "remote", "base_url": [server.base_url]})):
        cfg = load_dpo_config_dict({"output_dir": str(tmp_path / name), "prompts": "unused.jsonl",
                                    "policy": {"name_or_path": "unused"}, "critic": critic,
                                    "eval": {"enabled": False}})
        folder = tmp_path / name / "round_0"
        folder.mkdir(parents=True)
        write_records(folder / "samples.jsonl", sets)  # sampling is done: the round goes straight to labelling
        record = _label_round(cfg, 0, "unused", sets, [], folder, log=lambda *_: None)
        rows = [json.loads(line) for line in (folder / "pairs.jsonl").read_text().splitlines()]
        eval_judge = dpo_critic(cfg, evaluation=True)  # the eval step's pointwise judge, same section
        got[name] = (record, rows, [r.scores for r in eval_judge.rank(sets, mode="pointwise")])
    assert isinstance(dpo_critic(cfg), RemoteCritic)
    (lrec, lrows, lscores), (rrec, rrows, rscores) = got["local"], got["remote"]
    keys = ("id", "judge", "chosen", "rejected", "chosen_index", "rejected_index", "chosen_reward", "rejected_reward", "margin")
    assert lrows and [{k: r[k] for k in keys} for r in rrows] == [{k: r[k] for k in keys} for r in lrows]
    assert {k: rrec[k] for k in ("pairs", "sets", "mean_margin", "no_pair")} == \
           {k: lrec[k] for k in ("pairs", "sets", "mean_margin", "no_pair")}
    assert rscores == lscores and all(s is not None for ss in lscores for s in ss)


# ------------------------------------------------------------------------------------------------ TRL

def test_trl_reward_function_and_pairwise_judge_on_a_remote_critic(local, server):
    remote = RemoteCritic(server.base_url, api_key=TOKEN)
    # GRPO-style batch: 4 completions for each of 3 prompts, interleaved so order matters
    flat = []
    for cs, imgs in generate_items(3, seed=22, task="candidates", k=4):
        flat += [([{"role": "user", "content": cs.question}], [{"role": "assistant", "content": t}], imgs)
                 for t in cs.candidates]
    flat = [flat[i] for i in (0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11)]
    prompts, completions, images = (list(x) for x in zip(*flat))
    want = CriticRewardFunc(local)(prompts=prompts, completions=completions, images=images)
    reward = CriticRewardFunc(remote)
    got = reward(prompts=prompts, completions=completions, images=images, trainer_state=None)
    assert len(got) == len(completions) and all(isinstance(x, float) for x in got)
    assert got == want and len(set(got)) > 1
    assert len(reward.last_rankings) == 3

    pairs = list(generate_items(12, seed=21, task="pairwise"))
    args = ([it.question for it, _ in pairs], [[it.response_a, it.response_b] for it, _ in pairs])
    images = [imgs for _, imgs in pairs]
    for kw in ({}, {"return_scores": True, "shuffle_order": False}):
        want = CriticPairwiseJudge(local, ties="fail", seed=3).judge(*args, images=images, **kw)
        with warnings.catch_warnings():  # the server (this process) reads each pair as a pair, not as a bad pointwise item
            warnings.simplefilter("error", UnknownKeysWarning)
            got = CriticPairwiseJudge(remote, ties="fail", seed=3).judge(*args, images=images, **kw)
        assert got == want, kw
    assert want == [{"A": 1.0, "B": 0.0, "tie": 0.5}[it.label] for it, _ in pairs]


# ------------------------------------------------------------------------------------ --policy-tokenizer

def _reward_request(tok, item, end: str) -> dict:
    """OpenRLHF's request: prompt and response token ids decoded with special tokens kept, padding on both sides."""
    prompt = tok.apply_chat_template([{"role": "user", "content": [{"type": "image"},
                                                                   {"type": "text", "text": item.question}]}],
                                     add_generation_prompt=True, tokenize=False)
    ids = tok(prompt + item.response, add_special_tokens=False)["input_ids"]
    query = tok.decode([tok.pad_token_id] * 2 + ids + [tok.convert_tokens_to_ids(end), tok.pad_token_id, tok.pad_token_id],
                       skip_special_tokens=False)
    assert prompt + item.response in query and not query.endswith(item.response)
    return {"query": [query], "prompts": [prompt], "labels": [item.id]}


def _judged(world, url, body, token=None):
    """The reward of one /get_reward request and the text the judge read for it."""
    world["seen"].clear()
    got = RemoteCritic(url, api_key=token).request("POST", "/get_reward", body)
    assert len(world["seen"]) == 1
    return got["rewards"][0], world["seen"][0]


def test_policy_tokenizer_tokens_are_stripped_before_judging(world, local, server, tiny_model_dir, tmp_path):
    from tokenizers import AddedToken
    from transformers import AutoTokenizer

    items = world["items"][:2]
    clean = {}
    for it in items:
        world["seen"].clear()
        clean[it.id] = (local.score(it).score, world["seen"][0])

    # the tiny policy's own tokenizer: end of turn <|im_end|>, padding <|endoftext|>
    tiny = str(tiny_model_dir("llava"))
    tok = AutoTokenizer.from_pretrained(tiny)
    opts = ServeOptions(port=0, items=str(world["root"] / "items.jsonl"), policy_tokenizer=tiny)
    with ServerThread(local, opts) as srv:
        assert _judged(world, srv.base_url, _reward_request(tok, items[0], tok.eos_token)) == clean[items[0].id]

    # a policy whose end of turn is an added special token that is not its named EOS (Idefics2's
    # <end_of_utterance>) and whose padding token no built-in list knows: through `critic serve`
    tok.add_tokens([AddedToken("<end_of_utterance>", special=True)])
    tok.add_special_tokens({"pad_token": "<|policy_pad|>"})
    tok.save_pretrained(tmp_path / "policy")
    body = _reward_request(tok, items[1], "<end_of_utterance>")
    assert body["query"][0].endswith("<end_of_utterance><|policy_pad|><|policy_pad|>")
    _, without = _judged(world, server.base_url, body, TOKEN)  # the module's server has no --policy-tokenizer
    assert "<end_of_utterance>" in "".join(without)  # so the check below can tell
    proc = subprocess.Popen([sys.executable, "-m", "critic", "serve", "--backend", "openai", "--model", "oracle",
                             "--base-url", world["oracle"].base_url, "--port", "0", "--no-cache", "--items",
                             str(world["root"] / "items.jsonl"), "--policy-tokenizer", str(tmp_path / "policy")],
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "OPENAI_API_KEY": "x"})
    try:
        line = proc.stderr.readline()
        assert " on " in line, line + proc.stderr.read() if proc.poll() is not None else line
        assert _judged(world, line.split(" on ")[1].split()[0], body) == clean[items[1].id]
    finally:
        proc.terminate()
        proc.wait(30)


def test_policy_tokenizer_that_cannot_load_is_one_line(world, tmp_path, capsys):
    from critic.commands.main import main

    common = ["serve", "--backend", "openai", "--model", "oracle", "--base-url", world["oracle"].base_url,
              "--port", "0", "--no-cache", "--policy-tokenizer"]
    (tmp_path / "empty").mkdir()
    for where, message in ((tmp_path / "nowhere", "no such folder"), (tmp_path / "empty", "cannot load a tokenizer")):
        assert main([*common, str(where)]) == 2
        err = capsys.readouterr().err
        assert f"--policy-tokenizer {where}: {message}" in err and "Traceback" not in err
