"""``critic serve``: a judge behind HTTP, for RL and DPO loops (OpenRLHF's remote reward model, TRL).

One module per idea:

| module | what it holds |
| --- | --- |
| ``schemas`` | the typed request and response records of every route (pydantic) |
| ``security`` | limits (body, image bytes and pixels), the bearer token, images a request may name |
| ``batching`` | the dynamic batcher: work from many requests merged into one critic call, one batch at a time |
| ``metrics`` | counters and histograms, written in Prometheus' text format |
| ``openrlhf`` | OpenRLHF's ``/get_reward``: the items file, labels to items, the response cut out of the query |
| ``app`` | the Starlette application: routes, JSON errors, the server state |
| ``run`` | running it under uvicorn: binding, the token rule, SIGTERM drain, a server in a thread for tests |
| ``client`` | :class:`RemoteCritic`: ``score`` / ``compare`` / ``rank`` / ``judge_stream`` against a server |

The room sits at the judging layer: the server needs only the judge, and
:func:`critic.judging.factory.make_critic` builds a :class:`RemoteCritic` for ``backend="remote"``,
so every command that takes a judge can point at a server. Starlette and uvicorn are imported by
``app`` and ``run`` only (the ``serve`` extra); the client uses the standard library.
"""
