"""Time and peak memory of one GrabCut request by image size (a script, not a test): a Markdown table.

Issue 26 item 4: the servers' default pixel limit (``--max-pixels``, 40 MP) let one request take 67 s
and 8.8 GB through GrabCut at full size. Each row runs in a fresh process (so its peak RSS is its own):
a synthetic PNG of that many megapixels (smooth background, one disc: it compresses well, like the
reported 129 KB PNG of 6320 x 6320) is decoded as the app decodes uploads, then segmented with one box
and one point, as ``pixelthink app`` does with ``--segmenter grabcut``. ``scaled`` is the default
(GrabCut on a copy of at most :data:`~pixelthink.models.segmenters.GRABCUT_MAX_PIXELS` pixels, the mask
scaled back up); ``full`` (``--full-up-to MP``) is the former full-size GrabCut, for comparison.
Wall seconds depend on what else the machine runs; the CPU seconds (decode + GrabCut, this process)
much less so.

Usage: ``.venv/bin/python bench/bench_grabcut_pixels.py [--sizes 1,5,10,20,40] [--full-up-to 5]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys


def one(megapixels: float, full: bool) -> dict:
    """In the child process: decode + GrabCut on one image; seconds and peak RSS."""
    import io
    import math
    import resource
    import time

    import numpy as np
    from PIL import Image

    from pixelthink.images import decode_image
    from pixelthink.models.segmenters import GrabCutSegmenter

    side = int(math.sqrt(megapixels * 1e6))
    yy, xx = np.ogrid[:side, :side]
    image = np.empty((side, side, 3), np.uint8)
    image[..., 0] = (xx * 200 // side).astype(np.uint8)
    image[..., 1] = (yy * 200 // side).astype(np.uint8)
    image[..., 2] = 60
    disc = (xx - side // 2) ** 2 + (yy - side // 2) ** 2 <= (side // 6) ** 2
    image[disc] = (230, 80, 40)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=1)
    del image, disc
    png = buffer.getvalue()
    cpu = time.process_time()
    t0 = time.perf_counter()
    decoded = np.asarray(decode_image(png, max_pixels=None, name="bench"))
    t1 = time.perf_counter()
    seg = GrabCutSegmenter(max_pixels=10**12 if full else None)
    seg.set_image(decoded)
    c = side / 2
    mask, _ = seg.predict((c - side / 4, c - side / 4, c + side / 4, c + side / 4), [(c, c)])
    t2 = time.perf_counter()
    cpu = time.process_time() - cpu
    return {
        "cpu_s": cpu,
        "side": side,
        "png_kb": len(png) / 1024,
        "decode_s": t1 - t0,
        "grabcut_s": t2 - t1,
        "mask_ok": bool(mask.shape == (side, side) and mask[side // 2, side // 2]),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,5,10,20,40", help="megapixels, comma-separated")
    parser.add_argument("--full-up-to", type=float, default=5.0, help="also run full-size GrabCut up to MP")
    parser.add_argument("--one", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--full", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(one(args.one, args.full)))
        return
    print("| MP | image | PNG KB | GrabCut | decode s | GrabCut s | CPU s (both) | peak RSS MB | mask ok |")
    print("|---:|---|---:|---|---:|---:|---:|---:|---|")
    for mp in [float(x) for x in args.sizes.split(",")]:
        for full in (False, True) if mp <= args.full_up_to else (False,):
            cmd = [sys.executable, __file__, "--one", str(mp)] + (["--full"] if full else [])
            row = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
            print(
                f"| {mp:g} | {row['side']}x{row['side']} | {row['png_kb']:.0f} | {'full' if full else 'scaled'} "
                f"| {row['decode_s']:.2f} | {row['grabcut_s']:.2f} | {row['cpu_s']:.2f} | {row['peak_rss_mb']:.0f} "
                f"| {row['mask_ok']} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
