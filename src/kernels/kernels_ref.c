/* kernels_ref.c — plain C reference kernels (the ground truth for every SIMD path). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels_isa.h"
#include "kernels/quant.h"

typedef struct linear_job {
    float *y;
    const float *x;
    int M;
    const mv_matrix *w;
    const float *bias;
} linear_job;

enum {
    REF_BLOCK_N = 16,
    REF_CHUNK_K = 256, /* weights widened per step, on the stack: a multiple of the quantization block */
};

/* The sums run over k in order from 0, a chunk of the weight row at a time, carried in y between
 * chunks (a float either way, so the result is that of one loop over k); no heap scratch, nothing to
 * fail. */
static void linear_block(void *ctx, int block, int thread) {
    (void)thread;
    const linear_job *j = ctx;
    const int K = j->w->cols, N = j->w->rows;
    float part[REF_CHUNK_K];
    int n_end = (block + 1) * REF_BLOCK_N < N ? (block + 1) * REF_BLOCK_N : N;
    for (int n = block * REF_BLOCK_N; n < n_end; n++) {
        for (int m = 0; m < j->M; m++) j->y[(size_t)m * N + n] = 0.f;
        for (int k0 = 0; k0 < K; k0 += REF_CHUNK_K) {
            const int len = K - k0 < REF_CHUNK_K ? K - k0 : REF_CHUNK_K;
            mv_matrix_part_f32(j->w, n, k0, len, part);
            for (int m = 0; m < j->M; m++) {
                const float *xm = j->x + (size_t)m * K + k0;
                float acc = j->y[(size_t)m * N + n];
                for (int k = 0; k < len; k++) acc += xm[k] * part[k];
                j->y[(size_t)m * N + n] = acc;
            }
        }
        if (j->bias)
            for (int m = 0; m < j->M; m++) j->y[(size_t)m * N + n] += j->bias[n];
    }
}

void mv_linear_ref(mv_pool *pool, float *y, const float *x, int M, const mv_matrix *w, const float *bias) {
    linear_job j = { y, x, M, w, bias };
    mv_pool_for(pool, (w->rows + REF_BLOCK_N - 1) / REF_BLOCK_N, linear_block, &j);
}

void mv_layernorm_ref(float *out, const float *x, int rows, int dim, const float *gamma, const float *beta, float eps) {
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * dim;
        float *o = out + (size_t)r * dim;
        double mean = 0, var = 0;
        for (int i = 0; i < dim; i++) mean += xr[i];
        mean /= dim;
        for (int i = 0; i < dim; i++) var += (xr[i] - mean) * (xr[i] - mean);
        var /= dim;
        float inv = (float)(1.0 / sqrt(var + eps)), mu = (float)mean;
        for (int i = 0; i < dim; i++) o[i] = (xr[i] - mu) * inv * gamma[i] + (beta ? beta[i] : 0.f);
    }
}

void mv_rmsnorm_ref(float *out, const float *x, int rows, int dim, const float *gamma, float eps) {
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * dim;
        float *o = out + (size_t)r * dim;
        double ss = 0;
        for (int i = 0; i < dim; i++) ss += (double)xr[i] * xr[i];
        float inv = (float)(1.0 / sqrt(ss / dim + eps));
        for (int i = 0; i < dim; i++) o[i] = gamma[i] * (xr[i] * inv);
    }
}

void mv_gelu_erf_ref(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

void mv_silu_ref(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = x[i] / (1.0f + expf(-x[i]));
}

void mv_swiglu_ref(float *gate, const float *up, size_t n) {
    for (size_t i = 0; i < n; i++) gate[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

void mv_softmax_ref(float *x, int n) {
    float mx = -INFINITY;
    for (int i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    double sum = 0;
    for (int i = 0; i < n; i++) { x[i] = expf(x[i] - mx); sum += x[i]; }
    float inv = (float)(1.0 / sum);
    for (int i = 0; i < n; i++) x[i] *= inv;
}

void mv_add_ref(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] += x[i];
}

void mv_rope_cs_ref(float *x, int n_heads, int head_dim, const float *cos_t, const float *sin_t) {
    int half = head_dim / 2;
    for (int h = 0; h < n_heads; h++) {
        float *v = x + (size_t)h * head_dim;
        for (int i = 0; i < half; i++) {
            float a = v[i], b = v[i + half];
            v[i] = a * cos_t[i] - b * sin_t[i];
            v[i + half] = b * cos_t[i] + a * sin_t[i];
        }
    }
}

void mv_rope(float *x, int n_heads, int head_dim, int pos, const float *inv_freq) {
    enum { MAX_HALF = 512 };
    float c[MAX_HALF], s[MAX_HALF];
    int half = head_dim / 2 < MAX_HALF ? head_dim / 2 : MAX_HALF;
    for (int i = 0; i < half; i++) {
        float angle = (float)pos * inv_freq[i];
        c[i] = cosf(angle);
        s[i] = sinf(angle);
    }
    mv_rope_cs(x, n_heads, head_dim, c, s);
}

void mv_attention_head_ref(float *out, int out_stride, const float *q, int q_stride, const float *k, const float *v,
                       int kv_stride, int nq, int nk, int d, float scale, int causal, int q_offset, float *scratch) {
    for (int i = 0; i < nq; i++) {
        const float *qi = q + (size_t)i * q_stride;
        int n = causal ? (q_offset + i + 1 < nk ? q_offset + i + 1 : nk) : nk;
        for (int j = 0; j < n; j++) {
            const float *kj = k + (size_t)j * kv_stride;
            float acc = 0.f;
            for (int t = 0; t < d; t++) acc += qi[t] * kj[t];
            scratch[j] = acc * scale;
        }
        mv_softmax_ref(scratch, n);
        float *o = out + (size_t)i * out_stride;
        memset(o, 0, (size_t)d * sizeof *o);
        for (int j = 0; j < n; j++) {
            const float *vj = v + (size_t)j * kv_stride;
            float p = scratch[j];
            for (int t = 0; t < d; t++) o[t] += p * vj[t];
        }
    }
}
