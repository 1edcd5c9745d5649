#!/usr/bin/python3
import os, subprocess, sys
import numpy as np
from PIL import Image
sys.path.insert(0, "."); import run
D = "work/jo"; os.makedirs(D, exist_ok=True)
modes = ["s411", "s440", "s12", "rst", "arith", "rgb", "ycck", "cmyk_plain", "grey_rst", "prog_s411"]
sizes = [(1, 1), (3, 5), (17, 33), (449, 223), (1001, 13), (13, 1001), (640, 480)]
bad = n = 0
for mode in modes:
    for k, (w, h) in enumerate(sizes):
        p = os.path.join(D, "%s_%dx%d.jpg" % (mode, w, h))
        r = subprocess.run(["./jpegenc", p, str(w), str(h), mode, str(k)], capture_output=True)
        if r.returncode: print("encoder failed", mode, w, h, r.stderr[-200:]); continue
        pm = Image.open(p).mode
        for m in (1, 12):
            n += 1
            problem = run.compare(p, m)
            if problem:
                print(p, pm, problem); bad += 1
        os.unlink(p)
print(n, "cases,", bad, "problems")
