#!/usr/bin/python3
# Extra valid-image variants: ICC profiles (real/bogus/multi-segment), sRGB/gAMA/cHRM chunks, text chunks, APNG, grey tRNS,
# 16-bit grey tRNS, JPEG with comments/ICC, 1-bit/2-bit interlaced palette, odd JPEG sizes with every subsampling.
import io, os, struct, sys, zlib
import numpy as np
from PIL import Image, ImageCms
sys.path.insert(0, "."); import run
from pngw import write_png
D = "work/ext"; os.makedirs(D, exist_ok=True)
rng = np.random.RandomState(8)
srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
files = []
def pil(name, arr, mode, fmt, **kw):
    p = os.path.join(D, name); Image.fromarray(arr, mode).save(p, fmt, **kw); files.append(p)
def raw(name, *a, **kw):
    p = os.path.join(D, name); write_png(p, *a, **kw); files.append(p)
for (w, h) in [(1, 1), (17, 9), (333, 777), (2001, 45)]:
    rgb = run.content(rng, w, h, "edges"); tag = "%dx%d" % (w, h)
    pil("icc_srgb_%s.png" % tag, rgb, "RGB", "PNG", icc_profile=srgb)
    pil("icc_bogus_%s.png" % tag, rgb, "RGB", "PNG", icc_profile=b"bogus" * 50)
    pil("icc_srgb_%s.jpg" % tag, rgb, "RGB", "JPEG", icc_profile=srgb, quality=88)
    pil("icc_big_%s.jpg" % tag, rgb, "RGB", "JPEG", icc_profile=bytes(rng.randint(0, 256, 200000).astype(np.uint8)), quality=70)
    pil("comment_%s.jpg" % tag, rgb, "RGB", "JPEG", comment=b"hello", dpi=(300, 300), subsampling=1)
    raw("chunks_%s.png" % tag, rgb, 2, 8, extra_chunks=[(b"sRGB", b"\x00"), (b"gAMA", struct.pack(">I", 45455)),
        (b"cHRM", struct.pack(">8I", 31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000)),
        (b"tEXt", b"k\0v"), (b"zTXt", b"k\0\0" + zlib.compress(b"value")), (b"pHYs", struct.pack(">IIB", 2835, 2835, 1))])
    raw("grey_trns_%s.png" % tag, rgb[..., 0], 0, 8, trns=struct.pack(">H", int(rgb[0, 0, 0])))
    raw("grey16_trns_%s.png" % tag, rgb[..., 0].astype(np.uint16) * 3, 0, 16, trns=struct.pack(">H", 3))
    raw("pal1_interlaced_%s.png" % tag, rgb[..., 0] >> 7, 3, 1, plte=[255, 0, 0, 0, 0, 255], interlace=True)
    raw("grey1_interlaced_%s.png" % tag, rgb[..., 0] >> 7, 0, 1, interlace=True)
    raw("grey2_pal2_%s.png" % tag, rgb[..., 0] >> 6, 3, 2, plte=list(range(12)), trns=b"\x00\x80")
    raw("rgb16_interlaced_%s.png" % tag, rgb.astype(np.uint16) * 257, 2, 16, interlace=True)
    b = io.BytesIO(); Image.fromarray(rgb).save(b, "PNG", save_all=True, append_images=[Image.fromarray(255 - rgb)])
    p = os.path.join(D, "apng_%s.png" % tag); open(p, "wb").write(b.getvalue()); files.append(p)
    for ss in (0, 1, 2):
        for prog in (False, True):
            pil("jpg_ss%d_p%d_%s.jpg" % (ss, prog, tag), rgb, "RGB", "JPEG", subsampling=ss, progressive=prog, quality=97)
bad = 0
for p in files:
    for m in (1, 6, 40):
        problem = run.compare(p, m)
        if problem:
            print(p, problem); bad += 1
print(len(files), "files x 3 max_num;", bad, "problems")
import shutil; shutil.rmtree(D)
