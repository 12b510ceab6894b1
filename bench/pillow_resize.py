#!/usr/bin/python3
"""Pillow's side of `npm run bench:preprocess`: the resizes of HF SegGptImageProcessor.preprocess, timed.

    /usr/bin/python3 bench/pillow_resize.py --size 4000x3000 [--size 1155x866 …] [--runs 7]

Per size: a query and a prompt image (RGB, random bytes: resampling time does not depend on the content) and a
mode-L prompt mask of class values 0/255, built in memory (decoding is not timed, as on the Node side). One timed
call = query and prompt `Image.resize((448, 448), BICUBIC)`, the mask `Image.resize((448, 448), NEAREST)` (Pillow
resizes the L mask; HF repeats it on R, G, B first, which gives the same pixels), then, when numpy is available,
what HF does next: to float, rescale by 1/255, normalize with the ImageNet mean/std, HWC → CHW float32.

Prints one JSON object: Pillow's and numpy's versions and, per size, the median and min seconds of the resizes
alone and with the numpy steps. Needs Debian's Pillow (`apt-get install -y python3-pil python3-numpy`), run with
/usr/bin/python3.
"""
import argparse
import json
import statistics
import sys
import time

try:
    from PIL import Image
    import PIL
except ImportError:  # reported as JSON so the Node bench can say what is missing
    print(json.dumps({"error": "Pillow is not installed for this python (apt-get install -y python3-pil)"}))
    sys.exit(0)

try:
    import numpy as np
except ImportError:
    np = None

SIZE = (448, 448)
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def inputs(width, height):
    import random

    rng = random.Random(width * 7919 + height)
    query = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
    prompt = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
    # Left half background (0), right half object (255): the binary mask of the bench's single-prompt case.
    row = bytes(0 if x < width // 2 else 255 for x in range(width))
    mask = Image.frombytes("L", (width, height), row * height)
    return query, prompt, mask


def normalize(image):
    """HF: to float, rescale (float64 · 1/255 → float32), (x − mean) / std, channels first."""
    array = (np.asarray(image).astype(np.float64) * (1 / 255)).astype(np.float32)
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    array = (array - np.array(MEAN, dtype=np.float32)) / np.array(STD, dtype=np.float32)
    return np.ascontiguousarray(array.transpose(2, 0, 1))


def measure(width, height, runs):
    query, prompt, mask = inputs(width, height)
    resize_only = []
    with_numpy = []
    for i in range(runs + 1):
        started = time.perf_counter()
        q = query.resize(SIZE, Image.BICUBIC)
        p = prompt.resize(SIZE, Image.BICUBIC)
        m = mask.resize(SIZE, Image.NEAREST)
        resized = time.perf_counter()
        if np is not None:
            arrays = [normalize(q), normalize(p), normalize(m)]
            assert arrays[0].shape == (3, 448, 448)
        done = time.perf_counter()
        if i > 0:  # the first call warms caches and allocators
            resize_only.append(resized - started)
            with_numpy.append(done - started)
    result = {
        "width": width,
        "height": height,
        "runs": runs,
        "resize_seconds": statistics.median(resize_only),
        "resize_min_seconds": min(resize_only),
    }
    if np is not None:
        result["preprocess_seconds"] = statistics.median(with_numpy)
        result["preprocess_min_seconds"] = min(with_numpy)
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", action="append", default=[], help="WIDTHxHEIGHT, repeatable")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    sizes = [tuple(int(v) for v in s.lower().split("x")) for s in (args.size or ["4000x3000"])]
    print(
        json.dumps(
            {
                "python": sys.version.split()[0],
                "pillow": PIL.__version__,
                "numpy": np.__version__ if np is not None else None,
                "sizes": [measure(w, h, args.runs) for w, h in sizes],
            }
        )
    )


if __name__ == "__main__":
    main()
