import sys, time, os; sys.path.insert(0, "."); import run, numpy as np
from PIL import Image
rng = np.random.RandomState(4)
for (w, h, fmt) in [(4000, 3000, "JPEG"), (3001, 4003, "PNG")]:
    p = "work/big." + fmt.lower(); Image.fromarray(run.content(rng, w, h, "mixed")).save(p, fmt, quality=90)
    for m in (12, 40):
        t = time.time(); sz, g, rt = run.ref(p, m); tp = time.time() - t
        c = run.run_c(p, m)
        print(fmt, w, h, m, g, tuple(c["grid"]), "equal" if np.array_equal(rt, c["tiles"]) else "DIFF", "pillow %.2fs C %.2fs" % (tp, c["secs"]))
    os.unlink(p)
