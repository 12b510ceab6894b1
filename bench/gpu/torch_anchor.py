#!/usr/bin/env python3
"""PyTorch anchor of bench/gpu/run.sh: the same synthetic checkpoint and the same inputs in PyTorch on CUDA.

Loads the checkpoint folder with transformers' SegGptForImageSegmentation.from_pretrained, runs the inputs the Node
side saved (pixel_values.npy, prompt_pixel_values.npy, prompt_masks.npy, inputs.json) in fp32 and in fp16 (first run,
then best of --runs, CUDA-synchronised wall time), and writes pred_masks_<dtype>.npy (float32) plus torch.json into
--out. Parity against onnxruntime's CPU fp32 row is computed by the Node side from those files, with the same code as
every other row.

When python has no torch or transformers, or torch sees no CUDA device, it writes {"skipped": "<why>"} and exits 0, so
the run goes on and the table says why the anchor is missing.

    python3 bench/gpu/torch_anchor.py --checkpoint DIR --inputs DIR --out DIR [--runs 10] [--dtypes fp32,fp16]
"""

import argparse
import json
import os
import sys
import time
import traceback


def write(out_dir, result):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "torch.json"), "w") as f:
        json.dump(result, f, indent=2)
    print("TORCH_RESULT " + json.dumps(result), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--inputs", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--dtypes", default="fp32,fp16")
    parser.add_argument("--device", default="cuda", help="cuda (the anchor), or cpu to try the script where torch has no CUDA (fp32 only)")
    args = parser.parse_args()

    try:
        import numpy as np
        import torch
    except ImportError as error:
        write(args.out, {"skipped": f"no torch ({error})"})
        return
    try:
        import transformers
        from transformers import SegGptForImageSegmentation
    except ImportError as error:
        write(args.out, {"skipped": f"no transformers with SegGptForImageSegmentation ({error})"})
        return
    cuda = args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        write(args.out, {"skipped": f"CUDA not available to torch {torch.__version__}"})
        return

    # fp32 as fp32: no TF32 in matmuls or convolutions (the anchor is the exact reference, not the fastest fp32).
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    device = torch.device(args.device)

    def sync():
        if cuda:
            torch.cuda.synchronize()
    with open(os.path.join(args.inputs, "inputs.json")) as f:
        meta = json.load(f)
    arrays = {name: np.load(os.path.join(args.inputs, f"{name}.npy")) for name in ("pixel_values", "prompt_pixel_values", "prompt_masks")}

    result = {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "cuda": torch.version.cuda,
        "device_name": torch.cuda.get_device_name(0) if cuda else "cpu",
        "tf32": False,
        "rows": [],
    }
    started = time.perf_counter()
    try:
        # transformers 5 names the load precision `dtype`, 4.x `torch_dtype`.
        try:
            loaded = SegGptForImageSegmentation.from_pretrained(args.checkpoint, dtype=torch.float32, output_loading_info=True)
        except TypeError:
            loaded = SegGptForImageSegmentation.from_pretrained(args.checkpoint, torch_dtype=torch.float32, output_loading_info=True)
        model, info = loaded if isinstance(loaded, tuple) else (loaded, {})
        # Weights the checkpoint lacks would be random: the parity columns would show it, this says why.
        problems = {k: list(v)[:5] for k, v in dict(info).items() if k in ("missing_keys", "unexpected_keys", "mismatched_keys") and v}
        if problems:
            result["loading_problems"] = problems
        model = model.to(device).eval()
        sync()
    except Exception as error:  # noqa: BLE001 - reported, not raised
        result["error"] = f"load failed: {type(error).__name__}: {error}"
        result["traceback"] = traceback.format_exc()[-2000:]
        write(args.out, result)
        return
    result["load_seconds"] = time.perf_counter() - started

    for dtype in [d.strip() for d in args.dtypes.split(",") if d.strip()]:
        row = {"dtype": dtype}
        try:
            torch_dtype = {"fp32": torch.float32, "fp16": torch.float16}[dtype]
            model = model.to(torch_dtype)
            feeds = {name: torch.from_numpy(a).to(device=device, dtype=torch_dtype) for name, a in arrays.items()}
            kwargs = {"embedding_type": meta["embedding_type"], "feature_ensemble": meta["feature_ensemble"]}

            def run():
                sync()
                t0 = time.perf_counter()
                with torch.inference_mode():
                    out = model(**feeds, **kwargs)
                sync()
                return out.pred_masks, time.perf_counter() - t0

            pred, first = run()
            times = []
            for _ in range(args.runs):
                pred, seconds = run()
                times.append(seconds)
            path = os.path.join(args.out, f"pred_masks_{dtype}.npy")
            os.makedirs(args.out, exist_ok=True)
            np.save(path, pred.float().cpu().numpy().astype(np.float32))
            times_sorted = sorted(times) or [first]
            row.update(
                {
                    "first_seconds": first,
                    "run_seconds": times,
                    "best_seconds": times_sorted[0],
                    "median_seconds": times_sorted[len(times_sorted) // 2]
                    if len(times_sorted) % 2
                    else (times_sorted[len(times_sorted) // 2 - 1] + times_sorted[len(times_sorted) // 2]) / 2,
                    "pred": path,
                    "peak_memory_bytes": torch.cuda.max_memory_allocated() if cuda else None,
                }
            )
        except Exception as error:  # noqa: BLE001 - reported per row
            row["error"] = f"{type(error).__name__}: {error}"
            row["traceback"] = traceback.format_exc()[-2000:]
        result["rows"].append(row)
        print(f"[torch] {dtype}: " + (row.get("error") or f"first {row['first_seconds']:.3f} s, best {row['best_seconds']:.4f} s"), file=sys.stderr, flush=True)
    write(args.out, result)


if __name__ == "__main__":
    main()
