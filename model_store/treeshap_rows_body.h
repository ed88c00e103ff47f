/*
 * Four rows at once over one tree: the per-node work (reading the node, the loop) is
 * shared by the rows, which sit in the lanes of a vector. Included by treeshap.c for the
 * AVX2 path, with TREE_ROWS and LEAVES_ROWS (the passes' names), ATTRIBUTES, V and its
 * operations defined as for treeshap_body.h, and MEETS_ROWS (MEETS for four rows).
 *
 * The same bits as one row at a time (treeshap_body.h), operation for operation: each
 * row's o v - c, factor, 1 / f, products and sums are computed by the same IEEE
 * operations, and a node's integral is summed into the same four partial sums
 * (quadrature node n into sum n mod 4, in order of n), which go into the same four
 * partial sums per input. Cell (slot, n) holds the four rows' values side by side. Only
 * the N quadrature nodes of the rule are visited, not the padding: a padding node adds
 * exact zeros (+0: its weight is +0 and every product, 1 / f and sum is positive), which
 * leave every sum's bits as they are.
 */
ATTRIBUTES static inline __attribute__((always_inline)) int64_t
LEAVES_ROWS(const int pair, const int prior, int64_t i, const int64_t count,
            const int64_t N, const int64_t stride, const double *t, const double *w,
            const int32_t *feature, const double *cover, const int32_t *parent,
            const int32_t *previous, const double *P, const double *inverse, double *H,
            double *R, const double *om, double *phi) {
    const int64_t end = i + (pair ? 2 : 1) * count;
    for (; i < end; i += pair ? 2 : 1) {
        const V A = SET1(pair ? cover[i] + cover[i + 1] : cover[i]);
        const V B = pair ? LOAD(om + i * LANES) + LOAD(om + (i + 1) * LANES)
                         : LOAD(om + i * LANES);
        const double *above = P + parent[i] * stride, *undo = inverse + previous[i] * stride;
        double *up = H + parent[i] * stride, *earlier = R + previous[i] * stride;
        V sums[LANES] = {SET1(0.0), SET1(0.0), SET1(0.0), SET1(0.0)};
        for (int64_t n = 0; n < N; n++) {
            const int64_t k = n * LANES;
            const V q = prior ? LOAD(above + k) * LOAD(undo + k) : LOAD(above + k);
            const V a = SET1(w[n]) * q;
            sums[n % LANES] = sums[n % LANES] + a;
            const V hk = a * (A + B * SET1(t[n]));
            STORE(up + k, LOAD(up + k) + hk);
            if (prior) STORE(earlier + k, LOAD(earlier + k) + hk);
        }
        double *into = phi + (int64_t)feature[i] * LANES * LANES;
        for (int s = 0; s < LANES; s++)
            STORE(into + s * LANES, LOAD(into + s * LANES) + B * sums[s]);
    }
    return i;
}

ATTRIBUTES static inline __attribute__((always_inline)) void
TREE_ROWS(const float *x, int64_t n_inputs, double *phi, const int32_t *counts,
          const int64_t N, const int64_t S, const double *t, const double *w,
          const int32_t *feature, const float *lower, const float *upper, const double *cover,
          const double *value, const int32_t *parent, const int32_t *previous, double *P,
          double *inverse, double *H, double *R, double *om) {
    const V zero = SET1(0.0), one = SET1(1.0);
    const int64_t stride = S * LANES, inner = counts[0];
    for (int64_t n = 0; n < N; n++) { /* slot 0: ones (other trees' slots overlap it) */
        STORE(P + n * LANES, one);
        STORE(inverse + n * LANES, one);
    }
    const int64_t visited = inner + 2 * counts[1] + 2 * counts[2] + counts[3] + counts[4];
    MEETS_ROWS(x, n_inputs, visited, feature, lower, upper, cover, value, om);
    for (int64_t i = 0; i < inner; i++) { /* down */
        const V vz = SET1(cover[i]), vom = LOAD(om + i * LANES);
        const double *above = P + parent[i] * stride, *undo = inverse + previous[i] * stride;
        double *here = P + (i + 1) * stride, *inv = inverse + (i + 1) * stride;
        double *h = H + (i + 1) * stride, *r = R + (i + 1) * stride;
        for (int64_t n = 0; n < N; n++) {
            const int64_t k = n * LANES;
            const V f = vz + vom * SET1(t[n]);
            STORE(inv + k, one / f);
            STORE(here + k, (LOAD(above + k) * LOAD(undo + k)) * f);
            STORE(h + k, zero);
            STORE(r + k, zero);
        }
    }
    int64_t i = inner;
    i = LEAVES_ROWS(1, 1, i, counts[1], N, stride, t, w, feature, cover, parent, previous, P,
                    inverse, H, R, om, phi);
    i = LEAVES_ROWS(1, 0, i, counts[2], N, stride, t, w, feature, cover, parent, previous, P,
                    inverse, H, R, om, phi);
    i = LEAVES_ROWS(0, 1, i, counts[3], N, stride, t, w, feature, cover, parent, previous, P,
                    inverse, H, R, om, phi);
    LEAVES_ROWS(0, 0, i, counts[4], N, stride, t, w, feature, cover, parent, previous, P,
                inverse, H, R, om, phi);
    for (int64_t i = inner - 1; i >= 0; i--) { /* up */
        const double *h = H + (i + 1) * stride, *r = R + (i + 1) * stride;
        const double *inv = inverse + (i + 1) * stride;
        double *up = H + parent[i] * stride, *earlier = R + previous[i] * stride;
        V sums[LANES] = {zero, zero, zero, zero};
        for (int64_t n = 0; n < N; n++) {
            const int64_t k = n * LANES;
            const V hk = LOAD(h + k);
            sums[n % LANES] = sums[n % LANES] + (hk - LOAD(r + k)) * LOAD(inv + k);
            STORE(up + k, LOAD(up + k) + hk);
            STORE(earlier + k, LOAD(earlier + k) + hk);
        }
        const V vom = LOAD(om + i * LANES);
        double *into = phi + (int64_t)feature[i] * LANES * LANES;
        for (int s = 0; s < LANES; s++)
            STORE(into + s * LANES, LOAD(into + s * LANES) + vom * sums[s]);
    }
}
