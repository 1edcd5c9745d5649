#!/usr/bin/python3
# Exhaustive/random grid-choice check: C mv_choose_grid vs upstream find_closest_aspect_ratio (vectorised, same float ops).
import numpy as np, subprocess, os, sys
S = 448
def grids(mx):
    tr = set((i, j) for n in range(1, mx + 1) for i in range(1, n + 1) for j in range(1, n + 1) if i * j <= mx and i * j >= 1)
    return sorted(tr, key=lambda x: x[0] * x[1])
def ref(w, h, mx):
    aspect = w.astype(np.float64) / h.astype(np.float64)
    area = w.astype(np.int64) * h.astype(np.int64)
    best = np.full(w.shape, np.inf); bi = np.ones(w.shape, np.int64); bj = np.ones(w.shape, np.int64)
    for (i, j) in grids(mx):
        d = np.abs(aspect - i / j)
        lt = d < best
        eq = (d == best) & (area > 0.5 * S * S * i * j)   # python: int > float compares exactly; area < 2^53 here
        best = np.where(lt, d, best)
        upd = lt | eq
        bi = np.where(upd, i, bi); bj = np.where(upd, j, bj)
    return bi, bj
rng = np.random.RandomState(5)
W, H = np.meshgrid(np.arange(1, 1601), np.arange(1, 1601)); W = W.ravel(); H = H.ravel()
rw = rng.randint(1, 100001, 1000000); rh = rng.randint(1, 100001, 1000000)
sw = rng.randint(1, 60000, 300000); sh = rng.randint(1, 40, 300000)
W = np.concatenate([W, rw, sw, sh]); H = np.concatenate([H, rh, sh, sw])
np.stack([W, H], 1).astype(np.int32).tofile("work/wh.bin")
tot = 0
for mx in [1, 2, 3, 4, 5, 6, 8, 9, 10, 12, 16, 18, 24, 32, 36, 40, 48, 64]:
    subprocess.run(["./gridc", str(mx), "work/wh.bin", "work/cr.bin"], check=True)
    cr = np.fromfile("work/cr.bin", np.int32).reshape(-1, 2)
    bi, bj = ref(W, H, mx)
    bad = np.nonzero((cr[:, 0] != bi) | (cr[:, 1] != bj))[0]
    tot += len(W)
    print("max_num %2d: %d sizes, %d mismatches" % (mx, len(W), len(bad)), [(int(W[k]), int(H[k]), tuple(cr[k]), (int(bi[k]), int(bj[k]))) for k in bad[:5]], flush=True)
# cross-check the vectorised reference against the scalar upstream code on a sample
sys.path.insert(0, "."); import run
idx = rng.randint(0, len(W), 3000)
for mx in [6, 12, 40]:
    bi, bj = ref(W[idx], H[idx], mx)
    assert all(run.target_grid(int(W[k]), int(H[k]), mx) == (int(bi[n]), int(bj[n])) for n, k in enumerate(idx)), mx
print("total", tot, "vectorised ref agrees with scalar upstream code")
os.unlink("work/wh.bin"); os.unlink("work/cr.bin")
