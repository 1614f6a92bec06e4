"""Peak memory (max RSS) of ``critic judge`` on items of 4000 x 4000 images, by number of items (issue 14.4).

Before the fix the judge decoded every item's images before its first request, so its peak memory
grew by about 48 MB (one decoded 16 MP RGB image) per item; now images are decoded per request in
flight and the peak does not depend on the number of items.

Each run is ``python -m critic judge --backend openai`` in a fresh process (its max RSS read with
``os.wait4``) against a loopback chat server (critic's ``ChatServer``, in this process) answering a
fixed verdict. ``--before DIR`` also measures another checkout of critic (a ``git worktree`` of the
commit before the fix) with the same command.

    git worktree add /tmp/critic-before 1391722~1
    python bench/judge_memory.py --items 8 32 128 --before /tmp/critic-before
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def make_items(folder: Path, n: int, side: int) -> Path:
    """``n`` pointwise items, each pointing at one of 4 different ``side`` x ``side`` PNG files."""
    paths = []
    for k in range(4):
        p = folder / f"img{k}.png"
        if not p.exists():
            # smooth gradients: a realistic PNG size, cheap to make
            g = Image.linear_gradient("L").resize((side, side))
            Image.merge("RGB", (g, g.rotate(90), g.rotate(45 * k))).save(p, compress_level=1)
        paths.append(p.name)
    items = folder / f"items_{n}.jsonl"
    with items.open("w") as fh:
        for i in range(n):
            fh.write(json.dumps({"id": f"i{i}", "images": [paths[i % 4]], "question": "Describe the image.",
                                 "response": "A gradient."}) + "\n")
    return items


def peak_rss_mb(tree: Path, items: Path, base_url: str, out: Path, concurrency: int) -> tuple[float, float, int]:
    """(max RSS in MB, seconds, judgments written) of one ``critic judge`` run with the code in ``tree``."""
    cmd = [sys.executable, "-m", "critic", "judge", "--backend", "openai", "--model", "m", "--base-url", base_url,
           "--input", str(items), "--output", str(out), "--no-cache", "--no-progress",
           "--template", "llava_critic_pointwise", "--concurrency", str(concurrency)]
    env = {**os.environ, "PYTHONPATH": str(tree), "OPENAI_API_KEY": "x"}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{tree}: critic judge exited {proc.returncode}\n{err[-2000:]}")
    written = len(out.read_text().splitlines()) if out.exists() else 0
    return usage.ru_maxrss / 1024, time.perf_counter() - t0, written


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, nargs="+", default=[8, 32, 128])
    ap.add_argument("--side", type=int, default=4000)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--before", type=Path, default=None, help="a checkout of critic before the fix")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from critic.toy.chat_server import ChatServer

    trees = [("after", ROOT)] + ([("before", args.before.resolve())] if args.before else [])
    rows = []
    with tempfile.TemporaryDirectory() as tmp, ChatServer(lambda body, images: "Fine. Overall score: 5") as srv:
        folder = Path(tmp)
        for n in args.items:
            items = make_items(folder, n, args.side)
            for name, tree in trees:
                out = folder / f"out_{name}_{n}.jsonl"
                rss, secs, written = peak_rss_mb(tree, items, srv.base_url, out, args.concurrency)
                rows.append((name, n, rss, secs, written))
                print(f"{name:6s} items {n:5d}  max RSS {rss:8.0f} MB  {secs:6.1f} s  judgments {written}", flush=True)
    print("\n| code | items | max RSS (MB) | wall (s) |\n| --- | ---: | ---: | ---: |")
    for name, n, rss, secs, _ in rows:
        print(f"| {name} | {n} | {rss:.0f} | {secs:.1f} |")


if __name__ == "__main__":
    main()
