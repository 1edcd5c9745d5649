# Can two grids of the SAME product ever be the exact best tie (min_num=1)? Then set order would matter.
from fractions import Fraction as F
for max_num in range(1, 65):
    grids = [(i, j) for i in range(1, max_num+1) for j in range(1, max_num+1) if i*j <= max_num]
    for a in grids:
        for b in grids:
            if a >= b or a[0]*a[1] != b[0]*b[1]: continue
            m = (F(a[0], a[1]) + F(b[0], b[1])) / 2
            d = abs(m - F(a[0], a[1]))
            best = min(abs(m - F(g[0], g[1])) for g in grids)
            if best == d:
                print("max", max_num, "tie", a, b, "at aspect", m)
print("done")
