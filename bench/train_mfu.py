"""GPU training throughput and MFU: critic packed vs critic padded vs TRL's SFTTrainer, same data.

A random-initialised model shaped like LLaVA-OneVision-0.5B (Qwen2-0.5B text: 896 × 24 layers,
14 heads / 2 KV heads, 4864 MLP, 151 936 vocabulary; SigLIP-so400m vision: 1152 × 27 layers,
384 px, patch 14; anyres grid up to 3×3) or, with ``--size 7b``, LLaVA-OneVision-7B (Qwen2-7B:
3584 × 28, 28 / 4 heads, 18 944 MLP, 152 064 vocabulary), bf16, gradient checkpointing, trained
for ``--steps`` optimizer steps of 32 samples on synthetic critic samples whose prompt / answer
lengths follow the LLaVA-Critic-like profile of ``bench/train_packing.py`` (images of varied
sizes, so anyres token counts vary too).

MFU = model FLOPs / (wall time × peak bf16 FLOP/s). Model FLOPs per step count what a dense
implementation must do, per sample (no padding, no cross-sample attention): 6 × (language-model
parameters without embeddings and head) × tokens + 6 × 2 × layers × hidden × Σ length² / 2
(causal attention) + 6 × vision parameters × vision patches + 6 × head parameters × learned tokens
(critic computes logits only where a token is learned; counting the head for every token would
credit work that is not needed). The same numerator is used for every arm, so MFU ratios are
throughput ratios.

    python bench/train_mfu.py --steps 20                 # on a GPU (flash-attn used when installed)
    python bench/train_mfu.py --size 7b --steps 10       # if memory allows (one 80 GB GPU: ZeRO is not used)
    python bench/train_mfu.py --tiny --steps 2 --device cpu   # plumbing check on CPU (no MFU claimed)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SIZES = {
    "0.5b": dict(hidden=896, layers=24, heads=14, kv=2, mlp=4864, vocab=151936,
                 v_hidden=1152, v_layers=27, v_heads=16, v_mlp=4304, image=384, patch=14),
    "7b": dict(hidden=3584, layers=28, heads=28, kv=4, mlp=18944, vocab=152064,
               v_hidden=1152, v_layers=27, v_heads=16, v_mlp=4304, image=384, patch=14),
    "tiny": dict(hidden=128, layers=2, heads=4, kv=2, mlp=256, vocab=2048,
                 v_hidden=64, v_layers=1, v_heads=4, v_mlp=128, image=32, patch=8),
}
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0, "A10G": 125.0}


def build(size: str, out: Path) -> Path:
    """Save a random-init OneVision-shaped model + an image-only processor to ``out``."""
    import torch
    from transformers import (
        GenerationConfig,
        LlavaOnevisionConfig,
        LlavaOnevisionForConditionalGeneration,
        LlavaOnevisionProcessor,
        Qwen2Config,
        SiglipVisionConfig,
    )
    from transformers.models.llava_onevision import LlavaOnevisionImageProcessorPil

    from critic.models.loading import image_only
    from critic.models.tiny import IM_END, PAD, build_tokenizer

    s = SIZES[size]
    tok = build_tokenizer("llava_onevision", 1024)
    px = s["image"]
    pinpoints = [[px * a, px * b] for a in (1, 2, 3) for b in (1, 2, 3)]
    text = Qwen2Config(vocab_size=s["vocab"], hidden_size=s["hidden"], intermediate_size=s["mlp"],
                       num_hidden_layers=s["layers"], num_attention_heads=s["heads"], num_key_value_heads=s["kv"],
                       max_position_embeddings=32768, eos_token_id=tok.convert_tokens_to_ids(IM_END),
                       pad_token_id=tok.convert_tokens_to_ids(PAD), tie_word_embeddings=size == "0.5b")
    vision = SiglipVisionConfig(hidden_size=s["v_hidden"], intermediate_size=s["v_mlp"],
                                num_hidden_layers=s["v_layers"], num_attention_heads=s["v_heads"], image_size=px,
                                patch_size=s["patch"])
    config = LlavaOnevisionConfig(vision_config=vision, text_config=text,
                                  image_token_index=tok.convert_tokens_to_ids("<image>"),
                                  video_token_index=tok.convert_tokens_to_ids("<video>"),
                                  vision_feature_select_strategy="full", vision_feature_layer=-1,
                                  image_grid_pinpoints=pinpoints, tie_word_embeddings=size == "0.5b")
    model = LlavaOnevisionForConditionalGeneration(config).to(torch.bfloat16)
    model.generation_config = GenerationConfig(eos_token_id=text.eos_token_id, pad_token_id=text.pad_token_id)
    proc = image_only(LlavaOnevisionProcessor)(
        image_processor=LlavaOnevisionImageProcessorPil(size={"height": px, "width": px},
                                                         image_grid_pinpoints=pinpoints, do_pad=True),
        tokenizer=tok, video_processor=None, num_image_tokens=(px // s["patch"]) ** 2,
        vision_feature_select_strategy="full", chat_template=tok.chat_template)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    proc.save_pretrained(out)
    return out


def synthetic_data(out: Path, n: int, image: int, scale: int, seed: int = 0) -> Path:
    """Critic samples with LLaVA-Critic-like prompt / answer lengths and images of varied shapes."""
    from PIL import Image

    from critic.records import Message, TrainingSample

    rng = random.Random(seed)
    words = "the image shows a red circle left of a blue square and the response says so".split()
    (out / "images").mkdir(parents=True, exist_ok=True)
    with (out / "train.jsonl").open("w") as fh:
        for k in range(n):
            w, h = rng.choice([(1, 1), (2, 1), (1, 2), (2, 2), (3, 2), (2, 3), (3, 3)])
            path = out / "images" / f"{k}.png"
            Image.new("RGB", (image * w // 2 + 8, image * h // 2 + 8), tuple(rng.randrange(256) for _ in range(3))).save(path)
            prompt = int(min(1500, max(60, rng.lognormvariate(5.3, 0.7)))) // scale
            answer = int(min(500, max(60, rng.lognormvariate(5.0, 0.5)))) // scale
            s = TrainingSample(id=str(k), task="pointwise", images=[str(path)], template="compact_pointwise",
                               template_hash="synthetic", messages=[
                                   Message(role="user", content=[{"type": "image"}, {"type": "text", "text": " ".join(
                                       rng.choice(words) for _ in range(max(1, prompt)))}]),
                                   Message(role="assistant", content=[{"type": "text", "text": " ".join(
                                       rng.choice(words) for _ in range(max(1, answer))) + "\nScore: 7"}])])
            fh.write(s.model_dump_json(exclude_none=True) + "\n")
    return out / "train.jsonl"


def model_flops(model, lengths: list[int], learned: list[int], vision_patches: int) -> float:
    cfg = model.config.text_config
    lm = model.model.language_model
    n_lm = sum(p.numel() for n, p in lm.named_parameters() if "embed_tokens" not in n)
    n_vis = sum(p.numel() for p in model.model.vision_tower.parameters())
    n_head = cfg.hidden_size * cfg.vocab_size
    attn = 6 * 2 * cfg.num_hidden_layers * cfg.hidden_size * sum(x * x for x in lengths) / 2
    return 6 * n_lm * sum(lengths) + attn + 6 * n_vis * vision_patches + 6 * n_head * sum(learned)


def critic_arm(model_dir: Path, data: Path, out: Path, *, packing: bool, steps: int, attn: str, device: str) -> dict:
    from critic.training.config import load_config_dict
    from critic.training.trainer import train

    shutil.rmtree(out, ignore_errors=True)
    cfg = load_config_dict({
        "model": {"name_or_path": str(model_dir), "dtype": "bfloat16", "attn_implementation": attn,
                  "gradient_checkpointing": device != "cpu"},
        "data": {"train": str(data), "packing": packing, "max_length": 32768, "num_workers": 4},
        "train": {"output_dir": str(out), "max_steps": steps, "global_batch_size": 32, "per_device_batch_size": 8,
                  "learning_rate": 1e-5, "bf16": device != "cpu", "logging_steps": max(1, steps // 4),
                  "save_steps": 10 ** 6, "save_final": False, "progress": False},
    })
    r = train(cfg)
    t = r.trainer
    plan = [mb for step in t.step_sampler.step_plan(0)[:steps] for mb in step]
    refs = t.train_dataset.refs
    lengths = [refs[i].length for mb in plan for i in mb]
    learned = [refs[i].n_learned for mb in plan for i in mb]
    return {"wall_s": r.wall_s, "lengths": lengths, "learned": learned, "model": t.model}


def trl_arm(model_dir: Path, data: Path, out: Path, *, steps: int, attn: str, device: str) -> dict | None:
    if importlib.util.find_spec("trl") is None:
        return None
    from datasets import Dataset
    from PIL import Image
    from trl import SFTConfig, SFTTrainer

    from critic.models.loading import load_model, load_processor
    from critic.records import TrainingSample

    rows = [TrainingSample.model_validate_json(x) for x in data.read_text().splitlines()][: 32 * steps]
    ds = Dataset.from_list([{"prompt": [m.model_dump() for m in s.prompt_messages],
                             "completion": [s.messages[-1].model_dump()],
                             "images": [Image.open(p).convert("RGB") for p in s.images]} for s in rows])
    model = load_model(model_dir, dtype="bfloat16", attn_implementation=attn, device=device)
    model.train()
    shutil.rmtree(out, ignore_errors=True)
    args = SFTConfig(output_dir=str(out), max_steps=steps, per_device_train_batch_size=8,
                     gradient_accumulation_steps=4, learning_rate=1e-5, bf16=device != "cpu", max_length=None,
                     gradient_checkpointing=device != "cpu", logging_steps=max(1, steps // 4), save_strategy="no",
                     report_to="none", use_cpu=device == "cpu", dataloader_num_workers=4)
    trainer = SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=load_processor(model_dir))
    t0 = time.perf_counter()
    trainer.train()
    return {"wall_s": time.perf_counter() - t0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=["0.5b", "7b"], default="0.5b")
    ap.add_argument("--tiny", action="store_true", help="a tiny model instead (CPU plumbing check)")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--device", default=None)
    ap.add_argument("--out", type=Path, default=Path("runs/bench_mfu"))
    ap.add_argument("--peak-tflops", type=float, default=None, help="peak bf16 TFLOP/s (default: from the GPU name)")
    ap.add_argument("--no-trl", action="store_true")
    args = ap.parse_args()

    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    size = "tiny" if args.tiny else args.size
    attn = "flash_attention_2" if device == "cuda" and importlib.util.find_spec("flash_attn") else "sdpa"
    model_dir = build(size, args.out / f"model_{size}")
    data = synthetic_data(args.out / "data", 32 * args.steps, SIZES[size]["image"], scale=1 if size != "tiny" else 16)
    name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    peak = args.peak_tflops or next((v for k, v in PEAK_TFLOPS.items() if k in name), None)

    results: dict = {"device": name, "size": size, "attn_implementation": attn, "steps": args.steps, "arms": {}}
    flops = None
    for arm, packing in (("critic_packed", True), ("critic_padded", False)):
        r = critic_arm(model_dir, data, args.out / arm, packing=packing, steps=args.steps, attn=attn, device=device)
        if flops is None:
            s = SIZES[size]
            patches = len(r["lengths"]) * 5 * (s["image"] // s["patch"]) ** 2  # ~base + 4 crops per image
            flops = model_flops(r["model"], r["lengths"], r["learned"], patches)
            results["tokens"] = sum(r["lengths"])
        results["arms"][arm] = {"wall_s": round(r["wall_s"], 2), "tokens_per_s": round(results["tokens"] / r["wall_s"], 1)}
        del r
        if device == "cuda":
            torch.cuda.empty_cache()
    if not args.no_trl:
        r = trl_arm(model_dir, data, args.out / "trl", steps=args.steps, attn=attn, device=device)
        if r is not None:
            results["arms"]["trl_sft_padded"] = {"wall_s": round(r["wall_s"], 2),
                                                 "tokens_per_s": round(results["tokens"] / r["wall_s"], 1)}
    for v in results["arms"].values():
        if peak and device == "cuda":
            v["mfu"] = round(flops / v["wall_s"] / (peak * 1e12), 4)
    results["model_flops_per_run"] = flops
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
