#!/usr/bin/python3
# Invalid / odd inputs: compare Pillow open+convert+dynamic_preprocess success vs C, print C error text.
import io, os, struct, subprocess, sys, zlib, json
import numpy as np
from PIL import Image
sys.path.insert(0, "."); import run
D = "work/inv"; os.makedirs(D, exist_ok=True)
rng = np.random.RandomState(3)
rgb = run.content(rng, 301, 203, "mixed")
def pil_bytes(fmt, **kw):
    b = io.BytesIO(); Image.fromarray(rgb).save(b, fmt, **kw); return b.getvalue()
png = pil_bytes("PNG"); jpg = pil_bytes("JPEG", quality=90); pjpg = pil_bytes("JPEG", quality=90, progressive=True)
def chunks(d):
    i = 8; out = []
    while i < len(d):
        L = struct.unpack(">I", d[i:i+4])[0]; out.append((i, d[i+4:i+8], L)); i += 12 + L
    return out
ck = chunks(png)
idat = [c for c in ck if c[1] == b"IDAT"][0]
iend = [c for c in ck if c[1] == b"IEND"][0]
bad_idat_crc = bytearray(png); bad_idat_crc[idat[0] + 8 + idat[2]] ^= 0xFF
# ancillary chunk with bad CRC inserted before IDAT
anc = struct.pack(">I", 4) + b"tEXt" + b"a\0bc" + b"\0\0\0\0"
bad_anc_crc = png[:idat[0]] + anc + png[idat[0]:]
apng_b = io.BytesIO()
Image.fromarray(rgb).save(apng_b, "PNG", save_all=True, append_images=[Image.fromarray(255 - rgb)], duration=100)
big_hdr = png[:16] + struct.pack(">II", 100000, 100000) + png[24:]  # bad IHDR CRC too
big_ok = bytearray(png[:8]) + struct.pack(">I", 13) + b"IHDR" + struct.pack(">IIBBBBB", 9000, 9000, 8, 2, 0, 0, 0)
big_ok += struct.pack(">I", zlib.crc32(bytes(big_ok[12:29])) & 0xffffffff) + png[33:]
zero_w = bytearray(png[:8]) + struct.pack(">I", 13) + b"IHDR" + struct.pack(">IIBBBBB", 0, 5, 8, 2, 0, 0, 0)
zero_w += struct.pack(">I", zlib.crc32(bytes(zero_w[12:29])) & 0xffffffff) + png[33:]
cases = {
    "empty.png": b"", "empty.jpg": b"",
    "png_as.jpg": png, "jpg_as.png": jpg, "png_noext": png,
    "trunc_png_sig.png": png[:8], "trunc_png_ihdr.png": png[:20], "trunc_png_hdr.png": png[:33],
    "trunc_png_mid_idat.png": png[:idat[0] + 8 + idat[2] // 2], "trunc_png_no_iend.png": png[:iend[0]],
    "png_trailing_garbage.png": png + b"garbage" * 10,
    "png_bad_idat_crc.png": bytes(bad_idat_crc), "png_bad_ancillary_crc.png": bad_anc_crc,
    "apng_2frames.png": apng_b.getvalue(),
    "png_ihdr_100000sq_badcrc.png": big_hdr, "png_ihdr_9000sq_truncdata.png": bytes(big_ok),
    "png_zero_width.png": bytes(zero_w),
    "trunc_jpg_half.jpg": jpg[:len(jpg) // 2], "trunc_jpg_no_eoi.jpg": jpg[:-2], "trunc_jpg_hdr.jpg": jpg[:100],
    "trunc_pjpg_half.jpg": pjpg[:len(pjpg) // 2], "trunc_pjpg_no_eoi.jpg": pjpg[:-2],
    "jpg_trailing_garbage.jpg": jpg + b"\0garbage" * 10,
    "gif.gif": pil_bytes("GIF"), "bmp.bmp": pil_bytes("BMP"), "webp.webp": pil_bytes("WEBP"), "tiff.tif": pil_bytes("TIFF"),
    "random.png": bytes(rng.randint(0, 256, 5000).astype(np.uint8)), "text.jpg": b"hello world\n" * 10,
    "sig_only.jpg": b"\xff\xd8\xff",
}
def pil_try(p):
    try:
        with open(p, "rb") as f:
            im = Image.open(f).convert("RGB")
        g, t = run.dynamic_preprocess(im, 1, 6, 448, True)
        return "OK %dx%d grid %s" % (im.size + (g,))
    except Exception as e:
        return "ERR %s: %s" % (type(e).__name__, str(e)[:90])
rows = []
for name, data in cases.items():
    p = os.path.join(D, name); open(p, "wb").write(data)
    rows.append((name, p))
rows += [("nonexistent", os.path.join(D, "nope.png")), ("directory", D)]
for name, p in rows:
    pr = pil_try(p)
    c = run.run_c(p, 6)
    if "crash" in c: cr = "CRASH " + c["crash"]
    elif "error" in c: cr = "ERR " + c["error"]
    else:
        cr = "OK %dx%d grid %s" % (c["img"] + (tuple(c["grid"]),))
        if pr.startswith("OK"):
            _, g, rt = run.ref(p, 6)
            cr += " bytes-equal=%s" % bool(np.array_equal(rt, c["tiles"]))
    print("%-30s | Pillow: %-70s | C: %s" % (name, pr, cr))
