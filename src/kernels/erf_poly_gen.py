#!/usr/bin/env python3
"""erf_poly_gen.py — regenerates the coefficient table in erf_poly.h (standard library only).

erf on [0, 4) is split into 8 intervals [a, a + 0.5). On each, with t = |x| - a:
    erf(a + t) = off + (c0 + e*t) + t * P(t),   P of degree 7,
off a multiple of 1/64 near erf(a) (so the float constant c0 = erf(a) - off is tiny and its
rounding harmless), e = 1 only on [0, 0.5) (there erf(t) = t + t*(erf(t)/t - 1) keeps full relative
accuracy near 0). P interpolates at Chebyshev nodes in 60-digit decimal arithmetic, erf from its
Taylor series. Prints the C rows and, on stderr, the error of each interval with the float
coefficients (in ulps of the result, exact evaluation). Usage: erf_poly_gen.py [degree]
"""
import math
import struct
import sys
from decimal import Decimal as D, getcontext

getcontext().prec = 60
PI = D("3.14159265358979323846264338327950288419716939937510582097494459")
WIDTH, INTERVALS = D("0.5"), 8


def erf_dec(x):
    x = D(x)
    s, x2, p, n = D(0), x * x, x, 0
    while True:
        term = p / (2 * n + 1)
        s += term
        if abs(term) < D(10) ** -55 and n > 5:
            return 2 * s / PI.sqrt()
        n += 1
        p = -p * x2 / n


def f32(v):
    return struct.unpack("f", struct.pack("f", float(v)))[0]


def solve(a, b):
    """Gauss-Jordan with partial pivoting, in Decimal."""
    n = len(b)
    m = [row[:] + [bb] for row, bb in zip(a, b)]
    for c in range(n):
        piv = max(range(c, n), key=lambda r: abs(m[r][c]))
        m[c], m[piv] = m[piv], m[c]
        for r in range(n):
            if r != c and m[r][c] != 0:
                f = m[r][c] / m[c][c]
                m[r] = [x - f * y for x, y in zip(m[r], m[c])]
    return [m[i][n] / m[i][i] for i in range(n)]


def pw(t, k):
    return t**k if k else D(1)


def main():
    deg = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    rows = []
    for i in range(INTERVALS):
        a = WIDTH * i
        if i == 0:
            off, c0, e = D(0), D(0), 1
            g = lambda t: erf_dec(t) / t - 1
        else:
            ea = erf_dec(a)
            off, e = D(round(ea * 64)) / 64, 0
            c0 = D(f32(ea - off))
            g = lambda t, a=a, ea=ea: (erf_dec(a + t) - ea) / t
        m = deg + 1
        nodes = [WIDTH / 2 * (1 - D(math.cos(math.pi * (j + 0.5) / m))) for j in range(m)]
        p = [f32(c) for c in solve([[pw(t, k) for k in range(m)] for t in nodes], [g(t) for t in nodes])]
        worst = 0
        for j in range(1, 801):
            t = WIDTH * j / 800
            r = off + c0 + e * t + t * sum(D(c) * pw(t, k) for k, c in enumerate(p))
            ex = erf_dec(a + t)
            worst = max(worst, abs(r - ex) / D(2) ** (math.frexp(float(ex))[1] - 24))
        print("interval [%s, %s): max %.3f ulp" % (a, a + WIDTH, worst), file=sys.stderr)
        rows.append((float(off), f32(c0), e, p))
    fmt = lambda vals, f: "{ " + ", ".join(f % v for v in vals) + " },"
    print("    " + fmt([r[0] for r in rows], "%.9ef"), "/* off */")
    print("    " + fmt([r[1] for r in rows], "%.9ef"), "/* c0 */")
    print("    " + fmt([r[2] for r in rows], "%d.f"), "/* e */")
    for k in range(deg, -1, -1):
        print("    " + fmt([r[3][k] for r in rows], "%.9ef"), "/* p%d */" % k)


if __name__ == "__main__":
    main()
