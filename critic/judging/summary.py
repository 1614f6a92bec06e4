"""The end-of-run summary a judging command prints: counts, failures with examples, tokens, cost, time."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_EXAMPLES = 3


@dataclass
class JudgeSummary:
    """Accumulates what happened to each judgment of a run.

    >>> s = JudgeSummary(); s.skip("f.jsonl:3: id: missing"); s.render(Path("o.jsonl")).splitlines()[0]
    'judged 0 (0 from cache, 0 already in o.jsonl), parse failures 0, failed 0, skipped inputs 1'
    """

    judged: int = 0
    cached: int = 0
    resumed: int = 0
    parse_failures: list[tuple[str, str, str]] = field(default_factory=list)
    n_parse_failures: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    wall_s: float = 0.0

    def skip(self, reason: str) -> None:
        self.skipped.append(reason)

    def add(self, j: Any) -> None:
        if j.error is not None:
            self.failed.append((j.id, j.error))
            return
        self.judged += 1
        self.cached += int(j.cached)
        if j.parse_error is not None:
            self.n_parse_failures += 1
            if len(self.parse_failures) < MAX_EXAMPLES:
                label = f"{j.id} (swapped)" if getattr(j, "swapped", False) else j.id
                self.parse_failures.append((label, j.parse_error, j.raw))
        if j.usage is not None and not j.cached:
            self.prompt_tokens += j.usage.prompt_tokens
            self.completion_tokens += j.usage.completion_tokens
            if j.usage.cost is not None:
                self.cost = (self.cost or 0.0) + j.usage.cost

    def render(self, output: Path, failed_path: Path | None = None) -> str:
        """The whole summary as one text (headline, then the diagnostics)."""
        head, problems = self.render_parts(output, failed_path)
        return head + ("\n" + problems if problems else "")

    def render_parts(self, output: Path, failed_path: Path | None = None,
                     skipped_path: Path | None = None) -> tuple[str, str]:
        """``(headline, diagnostics)``: counts, tokens and time; then parse failures, failures, skipped inputs.

        Commands print the headline to stdout and the diagnostics to stderr.
        """
        lines = [
            f"judged {self.judged} ({self.cached} from cache, {self.resumed} already in {output}), "
            f"parse failures {self.n_parse_failures}, failed {len(self.failed)}, skipped inputs {len(self.skipped)}"
        ]
        lines.append(
            f"tokens: {self.prompt_tokens} prompt + {self.completion_tokens} completion; "
            f"cost: {'unknown' if self.cost is None else f'${self.cost:.4f}'}; wall time {self.wall_s:.1f} s"
        )
        if self.judged:
            lines.append(f"throughput: {self.judged / max(self.wall_s, 1e-9):.2f} judgments/s")
        problems = []
        for id_, err, raw in self.parse_failures:
            snippet = raw.strip().replace("\n", " ")
            snippet = snippet if len(snippet) <= 160 else snippet[:157] + "..."
            problems.append(f"  parse failure {id_}: {err}; raw: {snippet!r}")
        for id_, err in self.failed[:MAX_EXAMPLES]:
            problems.append(f"  failed {id_}: {err}")
        if self.failed:
            problems.append(f"  failed judgments are in {failed_path}; rerun the same command to retry them")
        for reason in self.skipped[:10]:
            problems.append(f"  skipped: {reason}")
        if len(self.skipped) > 10:
            problems.append(f"  ... and {len(self.skipped) - 10} more skipped inputs")
        if self.skipped and skipped_path is not None:
            problems.append(f"  all {len(self.skipped)} skipped inputs are in {skipped_path}")
        return "\n".join(lines), "\n".join(problems)
