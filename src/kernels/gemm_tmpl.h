/*
 * gemm_tmpl.h - the one GEMM algorithm, instantiated per instruction set.
 *
 * Why a template: scalar, AVX2, AVX-512 and NEON share the blocking and the
 * edge handling; only the vector type and four primitive operations differ.
 * Each including file defines, then includes this header once:
 *   AKG_NAME        function name to define (ak_gemm_nt_<isa>)
 *   AKG_V           vector type, AKG_VL its float lanes
 *   AKG_MR, AKG_NR  register block: rows of X x rows of W (each <= 4)
 *   AKG_ZERO()      zero vector
 *   AKG_LOAD(p)     unaligned load of AKG_VL floats
 *   AKG_FMA(a,b,c)  a*b + c
 *   AKG_HSUM(v)     float sum of the lanes of v
 *
 * Algorithm ("dot" form, no packing): Y[i][j] = dot(X row i, W row j), both
 * contiguous in k.  W is walked in column blocks of rows sized to stay in L2;
 * inside a block, AKG_MR x AKG_NR dot products are computed at once with one
 * vector accumulator each, so every loaded vector is used AKG_NR (or AKG_MR)
 * times.  The k remainder below one vector is added in scalar after the
 * horizontal sum.  A later task replaces this with prepacked micro-kernels.
 */
#ifndef AKG_NAME
#error "define AKG_NAME and the other AKG_ macros before including gemm_tmpl.h"
#endif

#define AKG_CAT2_(a, b) a##_##b
#define AKG_CAT_(a, b) AKG_CAT2_(a, b)
#define AKG_FN_(suffix) AKG_CAT_(AKG_NAME, suffix)

static inline __attribute__((always_inline)) void
AKG_FN_(block)(const int R, const int C, size_t k, const float *x, size_t ldx,
               const float *w, size_t ldw, const float *bias, float *y,
               size_t ldy)
{
    AKG_V acc[4][4]; /* sized for any instantiation; unused parts vanish */
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++)
            acc[r][c] = AKG_ZERO();
    const size_t kv = k - k % AKG_VL;
    for (size_t p = 0; p < kv; p += AKG_VL) {
        AKG_V wv[4];
        for (int c = 0; c < C; c++)
            wv[c] = AKG_LOAD(w + (size_t)c * ldw + p);
        for (int r = 0; r < R; r++) {
            AKG_V xv = AKG_LOAD(x + (size_t)r * ldx + p);
            for (int c = 0; c < C; c++)
                acc[r][c] = AKG_FMA(xv, wv[c], acc[r][c]);
        }
    }
    for (int r = 0; r < R; r++) {
        for (int c = 0; c < C; c++) {
            float t = AKG_HSUM(acc[r][c]);
            const float *xr = x + (size_t)r * ldx;
            const float *wc = w + (size_t)c * ldw;
            for (size_t p = kv; p < k; p++)
                t += xr[p] * wc[p];
            if (bias)
                t += bias[c];
            y[(size_t)r * ldy + c] = t;
        }
    }
}

typedef void (*AKG_FN_(blockfn))(size_t k, const float *x, size_t ldx,
                                  const float *w, size_t ldw, const float *bias,
                                  float *y, size_t ldy);

#define AKG_DEF_(R, C)                                                        \
    static void AKG_FN_(b##R##C)(size_t k, const float *x, size_t ldx,        \
                                 const float *w, size_t ldw,                  \
                                 const float *bias, float *y, size_t ldy)     \
    {                                                                         \
        AKG_FN_(block)(R, C, k, x, ldx, w, ldw, bias, y, ldy);                \
    }

/* instantiate every R x C up to 4 x 4; the table below only uses
 * R <= AKG_MR, C <= AKG_NR */
AKG_DEF_(1, 1) AKG_DEF_(1, 2) AKG_DEF_(1, 3) AKG_DEF_(1, 4)
AKG_DEF_(2, 1) AKG_DEF_(2, 2) AKG_DEF_(2, 3) AKG_DEF_(2, 4)
AKG_DEF_(3, 1) AKG_DEF_(3, 2) AKG_DEF_(3, 3) AKG_DEF_(3, 4)
AKG_DEF_(4, 1) AKG_DEF_(4, 2) AKG_DEF_(4, 3) AKG_DEF_(4, 4)

static const AKG_FN_(blockfn) AKG_FN_(table)[4][4] = {
    { AKG_FN_(b11), AKG_FN_(b12), AKG_FN_(b13), AKG_FN_(b14) },
    { AKG_FN_(b21), AKG_FN_(b22), AKG_FN_(b23), AKG_FN_(b24) },
    { AKG_FN_(b31), AKG_FN_(b32), AKG_FN_(b33), AKG_FN_(b34) },
    { AKG_FN_(b41), AKG_FN_(b42), AKG_FN_(b43), AKG_FN_(b44) },
};

/* Contract: see ak_gemm_nt_fn in kernels.h. */
void AKG_NAME(size_t m, size_t n, size_t k, const float *x, size_t ldx,
              const float *w, size_t ldw, const float *bias, float *y,
              size_t ldy)
{
    if (m == 0 || n == 0)
        return;
    if (k == 0) {   /* empty sum: Y = b (x and w may be NULL) */
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++)
                y[i * ldy + j] = bias ? bias[j] : 0.0f;
        return;
    }
    /* W rows per block: about 192 KiB of W, a multiple of AKG_NR */
    size_t nb = (size_t)(192 * 1024) / ((k ? k : 1) * sizeof(float));
    nb -= nb % AKG_NR;
    if (nb < (size_t)AKG_NR * 4)
        nb = (size_t)AKG_NR * 4;
    for (size_t j0 = 0; j0 < n; j0 += nb) {
        size_t j1 = j0 + nb < n ? j0 + nb : n;
        for (size_t i = 0; i < m; i += AKG_MR) {
            size_t R = m - i < AKG_MR ? m - i : AKG_MR;
            const float *xi = x + i * ldx;
            float *yi = y + i * ldy;
            for (size_t j = j0; j < j1; j += AKG_NR) {
                size_t C = j1 - j < AKG_NR ? j1 - j : AKG_NR;
                AKG_FN_(table)[R - 1][C - 1](k, xi, ldx, w + j * ldw, ldw,
                                            bias ? bias + j : NULL, yi + j, ldy);
            }
        }
    }
}

#undef AKG_DEF_
#undef AKG_FN_
#undef AKG_CAT_
#undef AKG_CAT2_
