/* synth.h — SYNTH-1 deterministic synthetic weights (see shared/golden/README.md, "SYNTH-1").
 *
 * Every element of a tensor is a pure function of the tensor's name, shape and element index, so any
 * chunk of any tensor can be generated on its own, in parallel, without holding the checkpoint. */
#ifndef MV_IO_SYNTH_H
#define MV_IO_SYNTH_H

#include <stddef.h>
#include <stdint.h>

/* FNV-1a 64-bit of the NUL-terminated string's bytes. */
uint64_t mv_fnv1a64(const char *s);

typedef enum mv_synth_kind { MV_SYNTH_BIAS, MV_SYNTH_NORM, MV_SYNTH_SCALED } mv_synth_kind;

/* Per-tensor generator state, from the name and shape alone. */
typedef struct mv_synth1 {
    uint64_t hash;
    mv_synth_kind kind; /* rank <= 1: BIAS (name ends with "bias") or NORM; rank >= 2: SCALED */
    double scale;       /* sqrt(3 / fan_in), fan_in = numel / shape[0] (SCALED only) */
} mv_synth1;

void mv_synth1_init(mv_synth1 *g, const char *name, int ndim, const int64_t *shape);
/* BF16 bit patterns of elements [first, first+n), written little-endian to dst (2n bytes). */
void mv_synth1_fill(const mv_synth1 *g, uint64_t first, size_t n, uint8_t *dst);

#endif
