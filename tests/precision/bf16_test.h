/* bf16_test.h — helpers the BF16 precision tests share: a seeded uniform generator and BF16 rounding. */
#ifndef MV_TESTS_BF16_TEST_H
#define MV_TESTS_BF16_TEST_H

#include "io/safetensors.h"

/* xorshift64 step of *state, as a float uniform in [-1, 1). */
static inline float bf16_test_uniform(unsigned long long *state) {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return (float)((*state >> 40) * (2.0 / 16777216.0) - 1.0);
}

/* f rounded to BF16 (nearest even), as a float. */
static inline float bf16_round(float f) { return mv_bf16_to_f32(mv_f32_to_bf16(f)); }

#endif
