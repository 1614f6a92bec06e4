"""The toy world: offline judging tasks whose answer is only in the pixels, and what stands around it.

One module per idea:

=================  =============================================================================
``scene``          drawing toy scenes and reading them back from pixels; answering and grading questions
``world``          seeded pointwise / pairwise / candidate items with graded responses and gold labels
``rationale``      the short rationales a tiny critic can learn (fact; fact + each response's claim)
``training_set``   toy critic training sets written directly (tests, benchmarks)
``source``         the ``toy`` source of data recipes
``oracle``         the oracle teacher: answers judge prompts about toy images like GPT-4o would
``chat_server``    a loopback OpenAI-compatible chat server with fault injection (oracle, tests, benchmarks)
``chat_requests``  the shape, images and token usage of the chat requests that server answers
``policy``         a tiny policy that answers toy questions, for iterative DPO on a CPU
``quickstart``     the whole pipeline on the toy world, stage by stage, through the real commands
=================  =============================================================================
"""
