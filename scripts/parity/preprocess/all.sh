#!/bin/sh
# Rerun everything (sequential, niced; ~8 min total on 2 cores). Reference = /usr/bin/python3 (Pillow 9.4, numpy).
set -e; cd "$(dirname "$0")"; ROOT=../../..
L="$(pkg-config --libs libpcre2-8 libutf8proc libcjson libpng libjpeg libcrypto) -lm -lpthread"
for p in harness gridc resizec; do gcc -O2 -I $ROOT/include -I $ROOT/src $p.c $ROOT/build/libminivl.a -o $p $L; done
gcc -O2 jpegenc.c -o jpegenc $(pkg-config --libs libjpeg)
rm -f results.jsonl special.jsonl
nice /usr/bin/python3 run.py --seed 11 --n 400 --log results.jsonl   # random sizes/formats, 2 max_num each
nice /usr/bin/python3 run.py --special --seed 12 --log special.jsonl # fixed edge sizes + grid-tie sizes x all 6 max_num
nice /usr/bin/python3 gridcheck.py      # mv_choose_grid vs upstream, 4.16M sizes x 18 max_num
nice /usr/bin/python3 resizecheck.py    # mv_resize_bicubic vs PIL resize, 1500 arbitrary size pairs
nice /usr/bin/python3 extras.py         # ICC/sRGB/text chunks, APNG, tRNS, 1/2-bit interlaced, JPEG subsampling x progressive
nice /usr/bin/python3 jpegodd.py        # libjpeg-only JPEGs: 4:1:1, 4:4:0, mixed sampling, restarts, arithmetic, RGB, YCCK
nice /usr/bin/python3 invalid.py        # invalid/odd files: Pillow vs C outcome and C error text
