/* dispatch.c — picks the fastest kernel the CPU supports (one place for all run-time choices). */
#include "kernels/kernels.h"

void mv_linear(mv_pool *pool, float *y, const float *x, int M, const mv_matrix *w, const float *bias) {
    mv_linear_ref(pool, y, x, M, w, bias);
}
