"""``critic serve``: a judge as an HTTP reward service (OpenRLHF's ``/get_reward``, critic's ``/v1/*``).

The judge is chosen with the judge flags (:mod:`critic.commands.judge_options`): ``--model CKPT``
for a local checkpoint, ``--backend openai --model M --base-url URL`` for an OpenAI-compatible judge.
``--api-key-env VAR`` names the variable holding the *server's* bearer token; the OpenAI backend's
own key variable is ``--backend-api-key-env`` (default ``OPENAI_API_KEY``). See ``docs/serving.md``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from critic.commands.judge_options import add_judge_options, judge_spec_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve", help="serve a judge over HTTP: OpenRLHF remote reward model, /v1/score, /v1/compare, /v1/rank",
        description="Serve a critic as a reward service. Requests from many clients are merged into batches; "
        "SIGTERM stops accepting, answers every request in flight, then exits. See docs/serving.md.",
    )
    s = p.add_argument_group("server")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; any other address "
                   "needs a token)")
    s.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    s.add_argument("--api-key-env", metavar="VAR", dest="api_key_env",
                   help="environment variable holding the bearer token clients must send")
    s.add_argument("--backend-api-key-env", metavar="VAR", default=None,
                   help="environment variable holding the OpenAI-compatible judge's key (default OPENAI_API_KEY)")
    s.add_argument("--image-root", type=Path, metavar="DIR",
                   help="image paths in requests are read only inside this folder (without it: data URLs only)")
    s.add_argument("--items", type=Path, metavar="FILE",
                   help="items JSONL (id, question, images, reference) that /get_reward labels name")
    s.add_argument("--policy-tokenizer", metavar="NAME",
                   help="tokenizer of the policy, whose special tokens are stripped from /get_reward queries")
    s.add_argument("--reward-template", metavar="NAME", help="pointwise template for /get_reward (default the judge's)")
    s.add_argument("--failure-reward", type=float, default=0.0,
                   help="reward of a query the critic could not score (default 0)")
    s.add_argument("--no-rationale-logs", action="store_true",
                   help="leave rationales out of /get_reward's extra_logs (numbers only)")
    s.add_argument("--swap", choices=["none", "random", "both"], default="none",
                   help="default pair order policy of /v1/compare and /v1/judge")
    s.add_argument("--max-batch", type=int, default=32, help="generations per batch (default 32)")
    s.add_argument("--max-wait-ms", type=float, default=10.0,
                   help="longest wait for a batch to fill (default 10 ms)")
    s.add_argument("--max-body-mb", type=float, default=64.0, help="largest request body (default 64 MB)")
    s.add_argument("--max-image-mb", type=float, default=16.0, help="largest image in a request (default 16 MB)")
    s.add_argument("--access-log", action="store_true", help="log every request line")
    add_judge_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from critic.commands.errors import CommandError
    from critic.judging.factory import make_critic
    from critic.serving.run import (
        ServeConfigError,
        ServeOptions,
        check_binding,
        make_state,
        serve,
        token_from_env,
    )
    from critic.serving.security import Limits

    if args.max_batch < 1 or args.max_wait_ms < 0:
        raise CommandError("--max-batch must be at least 1 and --max-wait-ms at least 0")
    server_key_var = args.api_key_env
    args.api_key_env = args.backend_api_key_env  # the judge flags' field is the backend's key variable
    spec = judge_spec_from_args(args)
    if spec.backend == "remote":
        raise CommandError("--backend remote would serve another server; give the judge itself")
    try:
        token = token_from_env(server_key_var)
        options = ServeOptions(
            host=args.host, port=args.port, token=token, items=str(args.items) if args.items else None,
            policy_tokenizer=args.policy_tokenizer, max_batch=args.max_batch, max_wait_ms=args.max_wait_ms,
            swap=args.swap, reward_template=args.reward_template, failure_reward=args.failure_reward,
            log_rationales=not args.no_rationale_logs, access_log=args.access_log,
            limits=Limits(max_body_bytes=int(args.max_body_mb * 2**20), max_image_bytes=int(args.max_image_mb * 2**20),
                          max_image_pixels=spec.max_image_pixels or 50_000_000,
                          image_root=str(args.image_root.resolve()) if args.image_root else None))
        check_binding(options.host, options.token)
    except ServeConfigError as exc:
        raise CommandError(str(exc)) from None
    if spec.backend == "hf" and args.batch_size is None:
        spec = spec.judge_spec(batch_size=args.max_batch)  # one server batch, one forward pass
    try:
        critic = make_critic(spec, progress=False)
    except (OSError, ValueError, ImportError) as exc:
        raise CommandError(f"cannot load the judge: {exc}") from exc
    try:
        state = make_state(critic, options)
    except ServeConfigError as exc:
        raise CommandError(str(exc)) from None

    def ready(host: str, port: int) -> None:
        print(f"critic serve: {critic.backend.judge_id} on http://{host}:{port} "
              f"(token {'required' if token else 'off'}); POST /get_reward, /v1/score, /v1/compare, /v1/rank",
              file=sys.stderr, flush=True)

    try:
        serve(state, options, ready=ready)
    except OSError as exc:
        raise CommandError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    return 0

