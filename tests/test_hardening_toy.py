"""The toy test bed's commands and chat server answer bad input with a message, never a traceback or a
dropped connection."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys

import pytest

from critic.commands.main import main
from critic.toy.chat_server import ChatServer, echo_answer


def post(srv: ChatServer, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=10)
    try:
        conn.request("POST", "/v1/chat/completions", body=body,
                     headers={"Content-Type": "application/json", **(headers or {})})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


@pytest.mark.parametrize(("body", "says"), [
    ({"model": "m", "messages": "hello"}, "messages must be a list of message objects"),
    ({"model": "m", "messages": ["hello"]}, "messages must be a list of message objects"),
    (["not", "an", "object"], "the body must be a JSON object"),
    ({"messages": [{"role": "user", "content": 7}]}, "messages[0].content must be a string or a list of parts"),
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": ["x"]}]}]},
     "messages[0].content[0].text must be a string"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": 5}}]}]},
     "messages[0].content[0].image_url must be a URL string or an object with one"),
])
def test_a_request_of_the_wrong_shape_gets_400_with_a_json_error(body, says) -> None:
    """issue 14.13: a chat request whose ``messages`` is not a list made the server drop the connection."""
    with ChatServer(echo_answer) as srv:
        status, reply = post(srv, json.dumps(body).encode())
        assert status == 400 and reply["error"]["message"] == f"bad request: {says}"
        assert reply["error"]["type"] == "invalid_request_error"
        ok, answer = post(srv, json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode())
        assert ok == 200 and answer["choices"][0]["message"]["content"] == "hi"  # still serving
        assert srv.stats.outcomes["400"] == 1


def test_a_content_length_that_is_no_number_gets_400() -> None:
    """issue 14.13: an unreadable Content-Length was an exception in the handler, not an answer."""
    with ChatServer(echo_answer) as srv:
        conn = http.client.HTTPConnection(srv.host, srv.port, timeout=10)
        conn.putrequest("POST", "/v1/chat/completions")
        conn.putheader("Content-Length", "lots")
        conn.endheaders()
        resp = conn.getresponse()
        assert resp.status == 400 and "Content-Length" in json.loads(resp.read())["error"]["message"]
        conn.close()


@pytest.mark.parametrize(("args", "says"), [
    (["--rate-429", "2"], "fault rates must be in [0, 1] and sum to at most 1"),
    (["--rate-500", "0.6", "--rate-slow", "0.6"], "fault rates must be in [0, 1] and sum to at most 1"),
    (["--retry-after", "-1"], "retry_after and slow_delay are seconds, at least 0"),
    (["--latency", "-1"], "--latency is seconds, at least 0"),
    (["--port", "70000"], "cannot listen on 127.0.0.1:70000"),
])
def test_critic_toy_teacher_refuses_bad_options(capsys, monkeypatch, args, says) -> None:
    """issue 14.13: ``critic toy teacher --rate-429 2`` was a ValueError traceback."""
    import critic.toy.chat_server as chat_server

    def served(*a, **kw):
        raise AssertionError("the teacher started serving despite a bad option")

    monkeypatch.setattr(chat_server._Server, "serve_forever", served)  # a regression fails instead of hanging
    assert main(["toy", "teacher", "--port", "0", *args]) == 2
    assert f"critic toy: error: {says}" in capsys.readouterr().err


def test_critic_toy_teacher_on_a_taken_port_says_so() -> None:
    """issue 14.13: a port in use was an OSError traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = subprocess.run([sys.executable, "-m", "critic", "toy", "teacher", "--port", str(port)],
                             capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 2, run.stderr
    assert f"critic toy: error: cannot listen on 127.0.0.1:{port}: Address already in use" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize(("args", "says"), [
    (["--hidden-size", "0"], "hidden_size must be a whole number of at least 1, got 0"),
    (["--patch-size", "64"], "patch_size 64 is larger than image_size 32"),
])
def test_critic_toy_model_refuses_an_unbuildable_spec(tmp_path, capsys, args, says) -> None:
    """issue 14.13: ``critic toy model --hidden-size 0`` was a ZeroDivisionError; ``--patch-size 64`` wrote a
    model whose images have no patch."""
    assert main(["toy", "model", "--out", str(tmp_path / "m"), *args]) == 2
    assert f"critic toy: error: {says}" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


