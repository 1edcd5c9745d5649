#!/usr/bin/python3
# mv_resize_bicubic vs PIL Image.resize (BICUBIC) on random size pairs and harsh content.
import numpy as np, subprocess, os, sys
from PIL import Image
sys.path.insert(0, "."); import run
rng = np.random.RandomState(21); os.makedirs("work/rs", exist_ok=True)
cases = []
for k in range(1500):
    r = rng.rand()
    if r < 0.3: sw, sh, dw, dh = rng.randint(1, 40, 4)
    elif r < 0.6: sw, sh = rng.randint(1, 700, 2); dw, dh = 448 * rng.randint(1, 5, 2)
    elif r < 0.8: sw, sh, dw, dh = rng.randint(1, 900, 4)
    else: sw, sh = rng.randint(1, 3000), rng.randint(1, 12); dw, dh = rng.randint(1, 3000), rng.randint(1, 1000)
    if rng.rand() < .5: sw, sh, dw, dh = sh, sw, dh, dw
    cases.append(tuple(int(v) for v in (sw, sh, dw, dh)))
lines, refs = [], []
for k, (sw, sh, dw, dh) in enumerate(cases):
    a = run.content(rng, sw, sh, ["noise", "gradient", "edges", "mixed"][k % 4])
    a.tofile("work/rs/s%d.raw" % k)
    lines.append("work/rs/s%d.raw %d %d %d %d work/rs/d%d.raw" % (k, sw, sh, dw, dh, k))
open("work/rs/list", "w").write("\n".join(lines) + "\n")
subprocess.run(["./resizec", "work/rs/list"], check=True)
bad = 0
for k, (sw, sh, dw, dh) in enumerate(cases):
    a = np.fromfile("work/rs/s%d.raw" % k, np.uint8).reshape(sh, sw, 3)
    ref = np.asarray(Image.fromarray(a).resize((dw, dh)))
    c = np.fromfile("work/rs/d%d.raw" % k, np.uint8).reshape(dh, dw, 3)
    if not np.array_equal(ref, c):
        bad += 1; print("MISMATCH", (sw, sh, dw, dh), int((ref != c).sum()), int(np.abs(ref.astype(int) - c).max()))
    os.unlink("work/rs/s%d.raw" % k); os.unlink("work/rs/d%d.raw" % k)
print(len(cases), "resize pairs,", bad, "mismatches")
