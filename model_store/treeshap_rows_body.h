/*
 * Four rows at once over one tree: the per-node work (reading the node, the loop) is
 * shared by the rows, which sit in the lanes of a vector. Included by treeshap.c for the
 * AVX2 path, with TREE_ROWS (the function's name), ATTRIBUTES, V and its operations
 * defined as for treeshap_body.h.
 *
 * The same bits as one row at a time (treeshap_body.h), operation for operation: each
 * row's o - z, factor, 1 / f, products and sums are computed by the same IEEE
 * operations, and a node's integral is summed into the same four partial sums
 * (quadrature node n into sum n mod 4, in order of n), added as (s0 + s1) + (s2 + s3).
 * Cell (slot, n) holds the four rows' values side by side.
 */
ATTRIBUTES static inline __attribute__((always_inline)) void
TREE_ROWS(const float *x, int64_t n_inputs, double *out, const int64_t inner,
          const int64_t leaves, const int64_t S, const double *t, const double *w,
          const int32_t *feature, const float *lower, const float *upper, const double *cover,
          const double *value, const int32_t *parent, const int32_t *previous, double *P,
          double *inverse, double *H, double *R, double *omz) {
    const V zero = SET1(0.0), one = SET1(1.0);
    const int64_t stride = S * LANES;
    for (int64_t n = 0; n < S; n++) { /* slot 0: ones (other trees' slots overlap it) */
        STORE(P + n * LANES, one);
        STORE(inverse + n * LANES, one);
    }
    for (int64_t i = 0; i < inner + leaves; i++) {
        const int64_t j = feature[i];
        for (int r = 0; r < LANES; r++) {
            const float input = x[r * n_inputs + j];
            omz[i * LANES + r] = (double)((input > lower[i]) & (input <= upper[i])) - cover[i];
        }
    }
    for (int64_t i = 0; i < inner; i++) { /* down */
        const V vz = SET1(cover[i]), vomz = LOAD(omz + i * LANES);
        const double *above = P + parent[i] * stride, *undo = inverse + previous[i] * stride;
        double *here = P + (i + 1) * stride, *inv = inverse + (i + 1) * stride;
        double *h = H + (i + 1) * stride, *r = R + (i + 1) * stride;
        for (int64_t n = 0; n < S; n++) {
            const int64_t k = n * LANES;
            const V f = vz + vomz * SET1(t[n]);
            STORE(inv + k, one / f);
            STORE(here + k, (LOAD(above + k) * f) * LOAD(undo + k));
            STORE(h + k, zero);
            STORE(r + k, zero);
        }
    }
    for (int64_t i = inner; i < inner + leaves; i++) { /* the leaves */
        const V vz = SET1(cover[i]), vomz = LOAD(omz + i * LANES), v = SET1(value[i]);
        const double *above = P + parent[i] * stride, *undo = inverse + previous[i] * stride;
        double *up = H + parent[i] * stride, *earlier = R + previous[i] * stride;
        V sums[LANES] = {zero, zero, zero, zero};
        for (int64_t n = 0; n < S; n++) {
            const int64_t k = n * LANES;
            const V f = vz + vomz * SET1(t[n]);
            const V a = (v * SET1(w[n])) * (LOAD(above + k) * LOAD(undo + k));
            sums[n % LANES] = sums[n % LANES] + a;
            const V hk = a * f;
            STORE(up + k, LOAD(up + k) + hk);
            STORE(earlier + k, LOAD(earlier + k) + hk);
        }
        const V share = vomz * ((sums[0] + sums[1]) + (sums[2] + sums[3]));
        const int64_t j = feature[i];
        for (int r = 0; r < LANES; r++) out[r * n_inputs + j] += share[r];
    }
    for (int64_t i = inner - 1; i >= 0; i--) { /* up */
        const double *h = H + (i + 1) * stride, *r = R + (i + 1) * stride;
        const double *inv = inverse + (i + 1) * stride;
        double *up = H + parent[i] * stride, *earlier = R + previous[i] * stride;
        V sums[LANES] = {zero, zero, zero, zero};
        for (int64_t n = 0; n < S; n++) {
            const int64_t k = n * LANES;
            const V hk = LOAD(h + k);
            sums[n % LANES] = sums[n % LANES] + (hk - LOAD(r + k)) * LOAD(inv + k);
            STORE(up + k, LOAD(up + k) + hk);
            STORE(earlier + k, LOAD(earlier + k) + hk);
        }
        const V share = LOAD(omz + i * LANES) * ((sums[0] + sums[1]) + (sums[2] + sums[3]));
        const int64_t j = feature[i];
        for (int r = 0; r < LANES; r++) out[r * n_inputs + j] += share[r];
    }
}
