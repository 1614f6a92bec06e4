"""What makes a checkpoint a critic: ``critic.json``, a model card, and finding one to resume from.

Trainer writes the model (safetensors), the processor with its chat template, the optimizer,
scheduler and RNG states, and ``trainer_state.json`` last. :func:`write_critic_files` adds

- ``critic.json``: ``default_templates`` (task → template name, read by
  ``Critic.from_pretrained``), the templates trained on with their hashes and sample counts, the
  base model, data summary, step, and the full training config;
- ``README.md``: a model card rendered from ``model_card.md.jinja``.

A checkpoint is complete once ``trainer_state.json`` exists (a run killed while saving leaves a
folder without it, which :func:`last_complete_checkpoint` skips).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

from critic import __version__
from critic.training.config import TrainConfig
from critic.training.data import DataReport, SampleRef
from critic.training.schedule import WSD

CRITIC_META = "critic.json"  # the name critic.judging.critic reads
TRAINER_STATE = "trainer_state.json"
_CKPT = re.compile(r"^checkpoint-(\d+)$")


def trained_templates(refs: list[SampleRef]) -> list[dict[str, Any]]:
    counts = Counter((r.template, r.template_hash, r.task) for r in refs)
    return [{"name": n, "hash": h, "task": t, "samples": c} for (n, h, t), c in sorted(counts.items())]


def default_templates(refs: list[SampleRef], override: dict[str, str] | None = None) -> dict[str, str]:
    """Per task, the template with the most training samples (``override`` wins)."""
    best: dict[str, tuple[int, str]] = {}
    for t in trained_templates(refs):
        if t["samples"] > best.get(t["task"], (0, ""))[0]:
            best[t["task"]] = (t["samples"], t["name"])
    out = {task: name for task, (_, name) in best.items()}
    out.update(override or {})
    return out


def template_warnings(refs: list[SampleRef]) -> list[str]:
    """Templates whose current file differs from the one the data was rendered with."""
    from critic.judging.templates import TemplateError, load_template

    out = []
    for t in trained_templates(refs):
        try:
            current = load_template(t["name"]).hash
        except (TemplateError, FileNotFoundError, KeyError, ValueError):
            out.append(f"template {t['name']!r} is not installed here; judges will need it to read this critic")
            continue
        if current != t["hash"]:
            out.append(f"template {t['name']!r}: the data was rendered with hash {t['hash']}, the installed file "
                       f"has {current}; judging uses the installed file")
    return out


def critic_metadata(cfg: TrainConfig, refs: list[SampleRef], report: DataReport, *, step: int, max_steps: int,
                    final_loss: float | None, trained_parts: dict[str, int], eval_metrics: dict | None = None) -> dict:
    base = cfg.model.name_or_path or f"tiny random {cfg.model.tiny.get('family', 'llava')} ({cfg.model.tiny})"  # type: ignore[union-attr]
    return {
        "format": 1,
        "critic_version": __version__,
        "default_templates": default_templates(refs, cfg.data.default_templates),
        "trained_templates": trained_templates(refs),
        "base_model": base,
        "data": report.to_dict(),
        "step": step,
        "max_steps": max_steps,
        "final_loss": final_loss,
        "trained_parameters": trained_parts,
        "eval": eval_metrics,
        "train_config": cfg.to_dict(),
    }


def render_model_card(meta: dict, path: str) -> str:
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    cfg = meta["train_config"]
    tr, data = cfg["train"], meta["data"]
    drops = []
    if data["dropped_too_long"]:
        drops.append(f"{data['dropped_too_long']} longer than max_length dropped")
    if data["missing_images"]:
        drops.append(f"{data['missing_images']} with missing images skipped")
    parts = meta["trained_parameters"]
    trained = ", ".join(f"{k} ({v:,} params)" for k, v in parts.items() if v) or "none"
    if cfg["model"]["lora"]:
        trained += f"; LoRA r={cfg['model']['lora']['r']}" + (" (merged)" if cfg["model"]["lora"]["merge_on_save"] else "")
    env = ImmutableSandboxedEnvironment(autoescape=False, trim_blocks=True, lstrip_blocks=True)
    text = (Path(__file__).with_name("model_card.md.jinja")).read_text(encoding="utf-8")
    return env.from_string(text).render(
        name=Path(path).name, path=path, base_model=meta["base_model"],
        tasks=" / ".join(sorted(meta["default_templates"])), default_templates=meta["default_templates"],
        data_path=data["path"], n_samples=data["used"], n_tokens=data["tokens"], n_learned=data["learned_tokens"],
        dropped="; ".join(drops), templates=meta["trained_templates"], step=meta["step"], max_steps=meta["max_steps"],
        epochs=tr["epochs"], global_batch_size=tr["global_batch_size"], optim=tr["optim"],
        learning_rate=tr["learning_rate"], lr_scheduler=tr["lr_scheduler"], warmup_ratio=tr["warmup_ratio"],
        decay_ratio=tr.get("decay_ratio") if tr["lr_scheduler"] == WSD else None,
        precision="bf16" if tr["bf16"] else cfg["model"]["dtype"], packing=cfg["data"]["packing"],
        attn_implementation=cfg["model"]["attn_implementation"], trained_parts=trained,
        final_loss=meta["final_loss"], eval=meta["eval"], critic_version=meta["critic_version"],
    )


def write_critic_files(out_dir: str | Path, meta: dict) -> None:
    """Write ``critic.json`` and ``README.md`` into a saved checkpoint folder."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / (CRITIC_META + ".tmp")
    tmp.write_text(json.dumps(meta, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(out / CRITIC_META)
    (out / "README.md").write_text(render_model_card(meta, str(out)), encoding="utf-8")


def checkpoints(output_dir: str | Path) -> list[tuple[int, Path]]:
    root = Path(output_dir)
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := _CKPT.match(p.name))]
    return sorted(found)


def last_complete_checkpoint(output_dir: str | Path) -> Path | None:
    """The highest ``checkpoint-N`` holding ``trainer_state.json`` (written last by Trainer)."""
    for _, p in reversed(checkpoints(output_dir)):
        if (p / TRAINER_STATE).is_file():
            return p
    return None
