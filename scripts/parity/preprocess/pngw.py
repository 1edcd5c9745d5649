# Minimal PNG writer for cases Pillow cannot write (16-bit RGB/RGBA/LA, 2/4-bit grey, short PLTE, Adam7).
import struct, zlib
import numpy as np

def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)

def pack_rows(a, depth):
    # a: (h, w, ch) integer samples
    h, w, ch = a.shape
    if depth == 16:
        return [a[y].astype(">u2").tobytes() for y in range(h)]
    if depth == 8:
        return [a[y].astype(np.uint8).tobytes() for y in range(h)]
    assert ch == 1
    per = 8 // depth
    out = []
    for y in range(h):
        row = a[y, :, 0].astype(np.uint8)
        pad = (-w) % per
        row = np.concatenate([row, np.zeros(pad, np.uint8)]).reshape(-1, per)
        b = np.zeros(row.shape[0], np.uint8)
        for k in range(per):
            b |= (row[:, k] << (8 - depth * (k + 1))).astype(np.uint8)
        out.append(b.tobytes())
    return out

ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]

def write_png(path, a, ctype, depth, plte=None, trns=None, interlace=False, exif=None, extra_chunks=()):
    if a.ndim == 2: a = a[:, :, None]
    h, w, _ = a.shape
    raw = b""
    if interlace:
        for xs, ys, dx, dy in ADAM7:
            sub = a[ys::dy, xs::dx]
            if sub.shape[0] == 0 or sub.shape[1] == 0: continue
            for r in pack_rows(sub, depth): raw += b"\0" + r
    else:
        for r in pack_rows(a, depth): raw += b"\0" + r
    s = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 1 if interlace else 0))
    if plte is not None: s += chunk(b"PLTE", bytes(plte))
    if trns is not None: s += chunk(b"tRNS", bytes(trns))
    if exif is not None: s += chunk(b"eXIf", exif)
    for t, d in extra_chunks: s += chunk(t, d)
    s += chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
    open(path, "wb").write(s)
