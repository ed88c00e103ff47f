/*
 * Four rows at once over one tree: the per-node work (reading the node, comparing,
 * choosing 1 / f, the loop) is shared by the rows, which sit in the lanes of a vector.
 * Included by treeshap.c for the AVX2 path, with TREE_ROWS (the function's name),
 * ATTRIBUTES, V and its operations defined as for treeshap_body.h.
 *
 * The same bits as one row at a time (treeshap_body.h), operation for operation: each
 * row's factor, 1 / f, products and sums are computed by the same IEEE operations, and a
 * node's integral is summed into the same four partial sums (quadrature node n into sum
 * n mod 4, in order of n), added as (s0 + s1) + (s2 + s3). Cell (node, n) holds the four
 * rows' values side by side.
 */
ATTRIBUTES static inline __attribute__((always_inline)) void
TREE_ROWS(const float *x, int64_t n_inputs, double *out, const int64_t base,
          const int32_t *order, const int64_t inner, const int64_t leaves, const int64_t S, const double *t, const double *w,
          const double *u, const double *table, const int32_t *parent,
          const int32_t *previous, const int32_t *feature, const double *lower,
          const double *upper, const double *cover, const double *value, double *P,
          double *inverse, double *H, double *R, const double *ones, double *spare,
          double *met) {
    const V zero = SET1(0.0), one = SET1(1.0);
    for (int64_t n = 0; n < S; n++) {
        STORE(P + n * LANES, one);
        STORE(H + n * LANES, zero); /* the root's sums: written by its children */
    }
    for (int64_t i = 0; i < inner + leaves; i++) { /* down, then the leaves */
        const int64_t c = order[i];
        const int64_t g = base + c;
        const int64_t j = feature[g];
        const V input = {(double)x[j], (double)x[n_inputs + j], (double)x[2 * n_inputs + j],
                         (double)x[3 * n_inputs + j]};
        const double z = cover[g];
        const Mask o = (input > SET1(lower[g])) & (input <= SET1(upper[g]));
        const V met_here = (V)(o & (Mask)one); /* 1.0 where met, else 0.0: exact */
        const V vz = SET1(z), omz = met_here - vz, unmet = SET1(1.0 / z);
        const double *above = P + (int64_t)parent[g] * S * LANES;
        const double *known = table + c * S;
        const double *undo =
            previous[g] >= 0 ? inverse + (int64_t)previous[g] * S * LANES : ones;
        if (i >= inner) {
            const V v = SET1(value[g]);
            V sums[LANES] = {zero, zero, zero, zero};
            double *up = H + (int64_t)parent[g] * S * LANES;
            double *earlier = previous[g] >= 0 ? R + (int64_t)previous[g] * S * LANES : spare;
            for (int64_t n = 0; n < S; n++) {
                const int64_t k = n * LANES;
                const V f = vz + omz * SET1(t[n]);
                const V unmet_inverse = unmet * SET1(u[n]);
                const V inv = (V)((o & (Mask)SET1(known[n])) | (~o & (Mask)unmet_inverse));
                const V here = (LOAD(above + k) * f) * LOAD(undo + k);
                const V hk = (v * SET1(w[n])) * here;
                sums[n % LANES] = sums[n % LANES] + hk * inv;
                STORE(up + k, LOAD(up + k) + hk);
                STORE(earlier + k, LOAD(earlier + k) + hk);
            }
            const V integral = (sums[0] + sums[1]) + (sums[2] + sums[3]);
            const V share = omz * integral;
            for (int r = 0; r < LANES; r++) out[r * n_inputs + j] += share[r];
            continue;
        }
        double *here = P + c * S * LANES, *inv = inverse + c * S * LANES;
        STORE(met + c * LANES, met_here);
        for (int64_t n = 0; n < S; n++) {
            const int64_t k = n * LANES;
            const V f = vz + omz * SET1(t[n]);
            const V unmet_inverse = unmet * SET1(u[n]);
            const V chosen = (V)((o & (Mask)SET1(known[n])) | (~o & (Mask)unmet_inverse));
            STORE(inv + k, chosen);
            STORE(here + k, (LOAD(above + k) * f) * LOAD(undo + k));
            STORE(H + c * S * LANES + k, zero);
            STORE(R + c * S * LANES + k, zero);
        }
    }
    for (int64_t i = inner - 1; i >= 0; i--) { /* up, over the inner edges */
        const int64_t c = order[i];
        const int64_t g = base + c;
        const double *h = H + c * S * LANES;
        const double *correction = R + c * S * LANES, *inv = inverse + c * S * LANES;
        V sums[LANES] = {zero, zero, zero, zero};
        double *up = H + (int64_t)parent[g] * S * LANES;
        double *earlier = previous[g] >= 0 ? R + (int64_t)previous[g] * S * LANES : spare;
        for (int64_t n = 0; n < S; n++) {
            const int64_t k = n * LANES;
            const V hk = LOAD(h + k);
            sums[n % LANES] = sums[n % LANES] + (hk - LOAD(correction + k)) * LOAD(inv + k);
            STORE(up + k, LOAD(up + k) + hk);
            STORE(earlier + k, LOAD(earlier + k) + hk);
        }
        const V integral = (sums[0] + sums[1]) + (sums[2] + sums[3]);
        const V share = (LOAD(met + c * LANES) - SET1(cover[g])) * integral;
        const int64_t j = feature[g];
        for (int r = 0; r < LANES; r++) out[r * n_inputs + j] += share[r];
    }
}
