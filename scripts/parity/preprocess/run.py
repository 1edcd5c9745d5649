#!/usr/bin/python3
"""Parity test: C mv_preprocess vs Pillow 9.4 InternVL dynamic_preprocess on generated images.
Usage: /usr/bin/python3 run.py [--seed S] [--n N] [--only FMT] [--keep]"""
import argparse, io, json, os, struct, subprocess, sys, time, shutil
import numpy as np
from PIL import Image
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pngw import write_png

HERE = os.path.dirname(os.path.abspath(__file__))
HARNESS = os.path.join(HERE, "harness")
S = 448
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)

# ---------------------------------------------------------------- upstream reference (verbatim logic)
def find_closest_aspect_ratio(aspect_ratio, target_ratios, width, height, image_size):
    best_ratio_diff = float('inf'); best_ratio = (1, 1); area = width * height
    for ratio in target_ratios:
        target_aspect_ratio = ratio[0] / ratio[1]
        ratio_diff = abs(aspect_ratio - target_aspect_ratio)
        if ratio_diff < best_ratio_diff:
            best_ratio_diff = ratio_diff; best_ratio = ratio
        elif ratio_diff == best_ratio_diff:
            if area > 0.5 * image_size * image_size * ratio[0] * ratio[1]:
                best_ratio = ratio
    return best_ratio

def target_grid(w, h, max_num, min_num=1, image_size=S):
    tr = set((i, j) for n in range(min_num, max_num + 1) for i in range(1, n + 1) for j in range(1, n + 1)
             if i * j <= max_num and i * j >= min_num)
    tr = sorted(tr, key=lambda x: x[0] * x[1])
    return find_closest_aspect_ratio(w / h, tr, w, h, image_size)

def dynamic_preprocess(image, min_num=1, max_num=12, image_size=448, use_thumbnail=False):
    ow, oh = image.size
    g = target_grid(ow, oh, max_num, min_num, image_size)
    tw, th = image_size * g[0], image_size * g[1]
    blocks = g[0] * g[1]
    resized = image.resize((tw, th))
    out = []
    for i in range(blocks):
        box = ((i % (tw // image_size)) * image_size, (i // (tw // image_size)) * image_size,
               ((i % (tw // image_size)) + 1) * image_size, ((i // (tw // image_size)) + 1) * image_size)
        out.append(resized.crop(box))
    if use_thumbnail and len(out) != 1:
        out.append(image.resize((image_size, image_size)))
    return g, out

def ref(path, max_num):
    with open(path, "rb") as f:
        image = Image.open(f).convert('RGB')
    g, tiles = dynamic_preprocess(image, 1, max_num, S, True)
    # T.Resize((448,448)) on a 448 tile is a copy in Pillow; keep it for fidelity
    arr = np.stack([np.asarray(t.resize((S, S), Image.BICUBIC)) for t in tiles])
    return image.size, g, arr

def norm_ref(u8):  # torchvision ToTensor + Normalize in float32, laid out [count,3,S,S]
    x = u8.astype(np.float32).transpose(0, 3, 1, 2) / np.float32(255)
    return (x - MEAN[None, :, None, None]) / STD[None, :, None, None]

def run_c(path, max_num, norm=False):
    out = os.path.join(HERE, "work", "c_out.bin")
    t0 = time.time()
    try:
        p = subprocess.run([HARNESS, path, str(max_num), out] + (["norm"] if norm else []),
                           capture_output=True, timeout=120)
    except subprocess.TimeoutExpired:
        return {"crash": "TIMEOUT(120s)"}
    dt = time.time() - t0
    if p.returncode != 0:
        return {"crash": "rc=%d stderr=%s" % (p.returncode, p.stderr.decode(errors='replace')[-300:])}
    d = open(out, "rb").read()
    os.unlink(out)
    hdr = struct.unpack("<8i", d[:32])
    if hdr[0] != 0:
        return {"error": d[32:].decode(errors='replace'), "status": hdr[0]}
    cols, rows, count, size, iw, ih, hn = hdr[1:]
    n = count * size * size * 3
    tiles = np.frombuffer(d, np.uint8, n, 32).reshape(count, size, size, 3)
    r = {"grid": (cols, rows), "count": count, "img": (iw, ih), "tiles": tiles, "secs": dt}
    if hn:
        r["norm"] = np.frombuffer(d, np.float32, n, 32 + n).reshape(count, size, size, 3)  # raw, reshape later
    return r

# ---------------------------------------------------------------- image generation
def compare(path, max_num):
    """None when the C side matches the reference on grid and every tile byte, else what went wrong."""
    try:
        _, grid, tiles = ref(path, max_num)
        ref_error = None
    except Exception as e:
        ref_error = repr(e)
    c = run_c(path, max_num)
    if ref_error or "error" in c or "crash" in c:
        return "ERR %s %s %s %s" % (max_num, ref_error, c.get("error"), c.get("crash"))
    if tuple(c["grid"]) != tuple(grid) or not np.array_equal(c["tiles"], tiles):
        if c["tiles"].shape != tiles.shape:
            return "MISMATCH max_num %d: grid %s vs %s" % (max_num, tuple(c["grid"]), tuple(grid))
        d = np.abs(c["tiles"].astype(int) - tiles)
        return "MISMATCH max_num %d: %d bytes differ, max %d" % (max_num, int((d > 0).sum()), int(d.max()))
    return None


def content(rng, w, h, kind):
    if kind == "noise":
        return rng.randint(0, 256, (h, w, 3)).astype(np.uint8)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    if kind == "gradient":
        out = np.empty((h, w, 3))
        for c in range(3):
            a, b, o = rng.uniform(-1.5, 1.5), rng.uniform(-1.5, 1.5), rng.uniform(0, 1)
            out[..., c] = (o + a * x / max(w, 1) + b * y / max(h, 1)) * 255
        return np.clip(out, 0, 255).astype(np.uint8)
    if kind == "edges":
        per = rng.randint(1, 9)
        chk = (((x // per).astype(int) + (y // per).astype(int)) % 2).astype(np.uint8) * 255
        out = np.stack([chk, 255 - chk, chk], -1).astype(np.uint8)
        for _ in range(rng.randint(1, 8)):  # hard-edged rectangles of extreme colours
            x0, y0 = rng.randint(0, w), rng.randint(0, h)
            x1, y1 = rng.randint(x0, w + 1), rng.randint(y0, h + 1)
            out[y0:y1 + 1, x0:x1 + 1] = rng.choice([0, 255], 3)
        return out
    # mixed: gradient with sparse 0/255 spikes and noisy half
    out = content(rng, w, h, "gradient")
    m = rng.rand(h, w) < 0.05
    out[m] = rng.choice([0, 255], (int(m.sum()), 3))
    out[:, : w // 2] = rng.randint(0, 256, (h, w // 2, 3))
    return out

def exif_bytes(orient):
    e = Image.Exif(); e[0x0112] = orient
    return e.tobytes()

def strip_app14(data):
    # remove Adobe APP14 segment(s) from a JPEG byte string
    out = bytearray(data[:2]); i = 2
    while i < len(data):
        if data[i] != 0xFF: out += data[i:]; break
        m = data[i + 1]
        if m == 0xDA: out += data[i:]; break
        L = (data[i + 2] << 8) | data[i + 3]
        if not (m == 0xEE and data[i + 4:i + 9] == b"Adobe"): out += data[i:i + 2 + L]
        i += 2 + L
    return bytes(out)

def make(path_base, fmt, w, h, kind, rng):
    """Write one image; returns (path, description of params)."""
    rgb = content(rng, w, h, kind)
    p = {}
    if fmt.startswith("jpg"):
        path = path_base + ".jpg"
        q = int(rng.choice([30, 50, 75, 90, 95, 100])); ss = int(rng.choice([0, 1, 2])); prog = bool(rng.rand() < 0.4)
        opt = bool(rng.rand() < 0.3)
        p = dict(quality=q, subsampling=ss, progressive=prog, optimize=opt)
        if fmt == "jpg_L":
            im = Image.fromarray(rgb[..., 0], "L"); p.pop("subsampling")
        elif fmt.startswith("jpg_cmyk"):
            k = rng.randint(0, 256, (h, w, 1)).astype(np.uint8) if kind == "noise" else (255 - rgb.max(-1, keepdims=True))
            im = Image.fromarray(np.concatenate([rgb, k], -1), "CMYK")
        else:
            im = Image.fromarray(rgb, "RGB")
        if fmt == "jpg_exif":
            p["exif_orientation"] = int(rng.choice([3, 6, 8])); p["exif"] = exif_bytes(p["exif_orientation"])
        b = io.BytesIO()
        try: im.save(b, "JPEG", **p)
        except OSError:  # Pillow 9.4 encoder buffer bug with progressive/optimize on some sizes
            p["optimize"] = False; p["progressive"] = False; p["pillow_save_retry"] = True
            b = io.BytesIO(); im.save(b, "JPEG", **p)
        data = b.getvalue()
        if fmt == "jpg_cmyk_noadobe": data = strip_app14(data)
        open(path, "wb").write(data)
        p.pop("exif", None)
        return path, p
    path = path_base + ".png"
    if fmt == "png_rgb":
        Image.fromarray(rgb).save(path)
    elif fmt == "png_rgba":
        a = rng.choice([0, 1, 128, 255], (h, w)).astype(np.uint8) if rng.rand() < 0.5 else rng.randint(0, 256, (h, w)).astype(np.uint8)
        Image.fromarray(np.dstack([rgb, a]), "RGBA").save(path)
    elif fmt == "png_L":
        Image.fromarray(rgb[..., 1], "L").save(path)
    elif fmt == "png_LA":
        Image.fromarray(np.dstack([rgb[..., 1], rgb[..., 2]]), "LA").save(path)
    elif fmt in ("png_P", "png_P_trns", "png_P_trnsbytes", "png_P_bits"):
        ncol = int(rng.choice([2, 3, 4, 16, 100, 256])) if fmt != "png_P_bits" else int(rng.choice([2, 4, 16]))
        idx = (rgb[..., 0].astype(int) * ncol // 256).astype(np.uint8)
        im = Image.fromarray(idx, "P")
        im.putpalette(list(rng.randint(0, 256, 3 * ncol).astype(np.uint8)))
        kw = {}
        if fmt == "png_P_trns": kw["transparency"] = int(rng.randint(0, ncol))
        if fmt == "png_P_trnsbytes": kw["transparency"] = bytes(rng.randint(0, 256, ncol).astype(np.uint8))
        if fmt == "png_P_bits": kw["bits"] = {2: 1, 4: 2, 16: 4}[ncol]
        p = dict(ncol=ncol, **{k: (v if not isinstance(v, bytes) else "bytes") for k, v in kw.items()})
        im.save(path, **kw)
    elif fmt == "png_I16":
        scale = int(rng.choice([1, 2, 257]))
        v = rgb[..., 0].astype(np.uint16) * scale if rng.rand() < 0.8 else rng.randint(0, 65536, (h, w)).astype(np.uint16)
        p = dict(scale=scale)
        Image.fromarray(v, "I;16").save(path)
    elif fmt == "png_1":
        Image.fromarray(rgb[..., 0] > 127).save(path)
    elif fmt == "png_exif":
        p["exif_orientation"] = int(rng.choice([3, 6, 8]))
        Image.fromarray(rgb).save(path, exif=exif_bytes(p["exif_orientation"]))
    # ---- custom writer
    elif fmt == "png_rgb16":
        write_png(path, rgb.astype(np.uint16) * 257 + rng.randint(0, 257, rgb.shape), 2, 16)
    elif fmt == "png_rgba16":
        write_png(path, np.dstack([rgb.astype(np.uint16) * 256 + rng.randint(0, 256, rgb.shape), rng.randint(0, 65536, (h, w))]), 6, 16)
    elif fmt == "png_la16":
        write_png(path, np.dstack([rgb[..., 0].astype(np.uint16) * 256 + 255, rng.randint(0, 65536, (h, w))]), 4, 16)
    elif fmt == "png_grey24":
        d = int(rng.choice([2, 4])); p["depth"] = d
        write_png(path, (rgb[..., 0] >> (8 - d)), 0, d)
    elif fmt == "png_P_short":  # PLTE shorter than the indices used (grey ramp beyond)
        npal = int(rng.choice([1, 5, 17])); d = int(rng.choice([4, 8])); p.update(npal=npal, depth=d)
        idx = rgb[..., 0] >> (8 - d)
        write_png(path, idx, 3, d, plte=rng.randint(0, 256, 3 * npal).astype(np.uint8))
    elif fmt == "png_rgb_trns":
        write_png(path, rgb, 2, 8, trns=struct.pack(">HHH", *rgb[0, 0]))
    elif fmt == "png_interlaced":
        ct = int(rng.choice([0, 2, 3, 4, 6])); p["ctype"] = ct
        if ct == 0: write_png(path, rgb[..., 0], 0, 8, interlace=True)
        elif ct == 2: write_png(path, rgb, 2, 8, interlace=True)
        elif ct == 3: write_png(path, rgb[..., 0] >> 4, 3, 4, plte=rng.randint(0, 256, 48).astype(np.uint8), interlace=True)
        elif ct == 4: write_png(path, np.dstack([rgb[..., 0], rgb[..., 1]]), 4, 8, interlace=True)
        else: write_png(path, np.dstack([rgb, rgb[..., :1]]), 6, 8, interlace=True)
    elif fmt == "png_gamma_iccp":  # ancillary chunks that must be ignored
        write_png(path, rgb, 2, 8, extra_chunks=[(b"gAMA", struct.pack(">I", 100000)), (b"sBIT", b"\x05\x06\x05")])
    else:
        raise ValueError(fmt)
    return path, p

FORMATS = ["png_rgb", "png_rgba", "png_L", "png_LA", "png_P", "png_P_trns", "png_P_trnsbytes", "png_P_bits",
           "png_I16", "png_1", "png_exif", "png_rgb16", "png_rgba16", "png_la16", "png_grey24", "png_P_short",
           "png_rgb_trns", "png_interlaced", "png_gamma_iccp",
           "jpg", "jpg_L", "jpg_cmyk", "jpg_cmyk_noadobe", "jpg_exif"]
MAXN = [1, 2, 6, 12, 24, 40]

def tie_sizes():
    """Sizes whose aspect is exactly a tie between two grids, with area just below/above the tie threshold."""
    out = set()
    for (a, b, c, d) in [(1, 1, 2, 1), (1, 1, 2, 2), (2, 2, 3, 3), (2, 1, 4, 2), (1, 1, 3, 2), (2, 1, 3, 1), (3, 2, 2, 1),
                         (1, 2, 1, 1), (1, 3, 2, 3), (4, 1, 5, 1), (3, 1, 6, 2), (5, 1, 6, 1), (1, 1, 4, 4), (3, 4, 4, 5)]:
        m_num = a * d + c * b; m_den = 2 * b * d  # midpoint of a/b and c/d as w:h = m_num:m_den
        from math import gcd
        g = gcd(m_num, m_den); mw, mh = m_num // g, m_den // g
        if a * d == c * b: mw, mh = a, b  # identical ratios: aspect = that ratio
        thr = 0.5 * S * S * max(a * b, c * d)
        k = int((thr / (mw * mh)) ** 0.5)
        for kk in (k - 1, k, k + 1, k + 2):
            if kk >= 1 and mw * kk <= 6000 and mh * kk <= 6000: out.add((mw * kk, mh * kk))
    return sorted(out)

SPECIAL = [(1, 1), (1, 2), (2, 1), (1, 7), (7, 1), (1, 448), (448, 1), (1, 1000), (1000, 1), (2, 3), (3, 2),
           (5000, 37), (37, 5000), (4999, 3), (3, 4999), (449, 449), (443, 457), (997, 211), (211, 997), (1009, 31),
           (13, 17), (447, 448), (448, 447), (449, 448), (895, 896), (448, 448), (896, 448), (448, 896),
           (1344, 896), (896, 1344), (1792, 1344), (2688, 448), (448, 2688), (4480, 448), (634, 634), (633, 633)]

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=11); ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--only", default=None); ap.add_argument("--keep", action="store_true")
    ap.add_argument("--special", action="store_true", help="run the SPECIAL+tie sizes over all max_num")
    ap.add_argument("--log", default="results.jsonl")
    a = ap.parse_args()
    rng = np.random.RandomState(a.seed)
    wd = os.path.join(HERE, "work"); os.makedirs(wd, exist_ok=True)
    fails = os.path.join(HERE, "fails"); os.makedirs(fails, exist_ok=True)
    cases = []
    fmts = [a.only] if a.only else FORMATS
    if a.special:
        for k, (w, h) in enumerate(SPECIAL + tie_sizes()):
            cases.append((fmts[k % len(fmts)], w, h, ["noise", "gradient", "edges", "mixed"][k % 4], MAXN))
    else:
        for k in range(a.n):
            fmt = fmts[k % len(fmts)]
            r = rng.rand()
            if r < 0.2: w, h = rng.randint(1, 31, 2)                        # tiny
            elif r < 0.3: w, h = (1, rng.randint(1, 3000)) if rng.rand() < .5 else (rng.randint(1, 3000), 1)
            elif r < 0.4:                                                    # very wide / tall
                w, h = rng.randint(2000, 6001), rng.randint(2, 60)
                if rng.rand() < .5: w, h = h, w
            elif r < 0.5:                                                    # near multiples of 448
                w, h = 448 * rng.randint(1, 5) + rng.randint(-2, 3), 448 * rng.randint(1, 5) + rng.randint(-2, 3)
            elif r < 0.6:
                ts = tie_sizes(); w, h = ts[rng.randint(len(ts))]
            else:                                                            # log-uniform general
                w, h = np.exp(rng.uniform(np.log(2), np.log(2500), 2)).astype(int)
            w, h = int(max(w, 1)), int(max(h, 1))
            kind = ["noise", "gradient", "edges", "mixed"][rng.randint(4)]
            mx = sorted(set(rng.choice(MAXN, 2)))
            cases.append((fmt, w, h, kind, mx))
    log = open(os.path.join(HERE, a.log), "a")
    stats = {}
    t_start = time.time()
    for ci, (fmt, w, h, kind, mx) in enumerate(cases):
        base = os.path.join(wd, "img_%d" % ci)
        path, params = make(base, fmt, w, h, kind, rng)
        st = stats.setdefault(fmt, {"cases": 0, "ok": 0, "bad": 0})
        for m in mx:
            st["cases"] += 1
            rec = {"seed": a.seed, "i": ci, "fmt": fmt, "w": w, "h": h, "kind": kind, "max_num": m, "params": params}
            try:
                isize, g, rt = ref(path, m)
                rerr = None
            except Exception as e:
                rerr = "%s: %s" % (type(e).__name__, e)
            norm = (ci % 7 == 0)
            c = run_c(path, m, norm)
            bad = []
            if "crash" in c: bad.append("C crash: " + c["crash"])
            elif rerr and "error" not in c: bad.append("Pillow error but C ok: " + rerr)
            elif "error" in c and not rerr: bad.append("C error but Pillow ok: " + c["error"])
            elif "error" in c: rec["both_error"] = [rerr, c["error"]]
            else:
                if tuple(c["grid"]) != tuple(g): bad.append("grid C %s vs ref %s" % (c["grid"], g))
                if c["count"] != rt.shape[0]: bad.append("count C %d vs ref %d" % (c["count"], rt.shape[0]))
                if not bad:
                    dif = np.abs(c["tiles"].astype(int) - rt.astype(int))
                    nd = int((dif > 0).sum())
                    if nd:
                        pt = [int((dif[t] > 0).sum()) for t in range(dif.shape[0])]
                        bad.append("bytes: %d differ, max %d, per-tile %s" % (nd, int(dif.max()), pt))
                    if "norm" in c:
                        cn = c["norm"].reshape(rt.shape[0], 3, S, S)
                        rn = norm_ref(rt)
                        nb = int((cn.view(np.uint32) != rn.view(np.uint32)).sum())
                        rec["norm_checked"] = True
                        if nb: bad.append("norm: %d float32 values differ (max abs %g)" % (nb, float(np.abs(cn - rn).max())))
                rec["grid"] = list(c["grid"]); rec["c_secs"] = round(c["secs"], 3)
            rec["bad"] = bad
            if bad:
                st["bad"] += 1
                keep = os.path.join(fails, "s%d_%d_%s_%dx%d%s" % (a.seed, ci, fmt, w, h, os.path.splitext(path)[1]))
                shutil.copy(path, keep); rec["kept"] = keep
                print("FAIL", json.dumps(rec, default=lambda o: o.item() if hasattr(o, "item") else str(o)), flush=True)
            else:
                st["ok"] += 1
            log.write(json.dumps(rec, default=lambda o: o.item() if hasattr(o, "item") else str(o)) + "\n")
        if not a.keep: os.unlink(path)
    print("elapsed %.1fs" % (time.time() - t_start))
    for f, s in stats.items(): print("%-18s cases=%3d ok=%3d bad=%3d" % (f, s["cases"], s["ok"], s["bad"]))

if __name__ == "__main__":
    main()
