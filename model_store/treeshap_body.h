/*
 * The body of the TreeSHAP kernel, included once per path by treeshap.c with these
 * defined: KERNEL (the function's name), TREE (the pass over one tree), ATTRIBUTES (its
 * target), V (a block of LANES doubles) and the block operations LOAD, STORE, SET1, ADD,
 * SUB, MUL, DIV and HSUM. Every path performs the same IEEE operations in the same order
 * on every lane, so all give the same bits: only how many lanes one instruction carries
 * differs.
 *
 * Lanes are quadrature nodes: a tree whose rule has N nodes is computed in
 * ceil(N / LANES) blocks, the padding nodes having t = 0 and weight 0 (they add exact
 * zeros). A node's integral is summed block by block into LANES partial sums, then HSUM
 * adds those in one fixed order. The pass over one tree is inlined for the common block
 * counts, so their loops are unrolled: the arithmetic is the same.
 *
 * Scratch, per inner node's slot (slot 0 stands for the root, and for "no earlier split
 * on the feature": its product and its 1 / f are ones, its sums a sink nobody reads):
 * the product P, 1 / f, the sums H of the leaves below and the corrections R.
 */
ATTRIBUTES static inline __attribute__((always_inline)) void
TREE(const float *row, double *phi, const int64_t inner, const int64_t leaves,
     const int64_t blocks, const double *t, const double *w, const int32_t *feature,
     const float *lower, const float *upper, const double *cover, const double *value,
     const int32_t *parent, const int32_t *previous, double *P, double *inverse, double *H,
     double *R, double *omz) {
    const int64_t S = blocks * LANES; /* stride: whole blocks */
    const V zero = SET1(0.0), one = SET1(1.0);
    for (int64_t b = 0; b < blocks; b++) { /* slot 0: ones (other trees' slots overlap it) */
        STORE(P + b * LANES, one);
        STORE(inverse + b * LANES, one);
    }
    /* o - z of every node visited, o = 1 when the row satisfies all the splits on the
     * node's feature from the root (float bounds: the same answers as the float64
     * thresholds, see treeshap_prepare) */
    for (int64_t i = 0; i < inner + leaves; i++) {
        const float input = row[feature[i]];
        omz[i] = (double)((input > lower[i]) & (input <= upper[i])) - cover[i];
    }
    /* down, over the inner nodes in pre-order: each one's factor f = z + (o - z) t, its
     * 1 / f, and its product P, its parent's times f over the factor of the feature's
     * earlier split (1 without one); its sums start at zero */
    for (int64_t i = 0; i < inner; i++) {
        const V vz = SET1(cover[i]), vomz = SET1(omz[i]);
        const double *above = P + (int64_t)parent[i] * S;
        const double *undo = inverse + (int64_t)previous[i] * S;
        double *here = P + (i + 1) * S, *inv = inverse + (i + 1) * S;
        double *h = H + (i + 1) * S, *r = R + (i + 1) * S;
        _Pragma("GCC unroll 8") for (int64_t b = 0; b < blocks; b++) {
            const int64_t k = b * LANES;
            const V f = ADD(vz, MUL(vomz, LOAD(t + k)));
            STORE(inv + k, DIV(one, f));
            STORE(here + k, MUL(MUL(LOAD(above + k), f), LOAD(undo + k)));
            STORE(h + k, zero);
            STORE(r + k, zero);
        }
    }
    /* the leaves, each finished at once: with q = P / f (its parent's product over the
     * feature's earlier factor), its share is (o - z) v sum_n w_n q_n, and v w q f goes
     * up to its parent's sums and its feature's earlier split's corrections */
    for (int64_t i = inner; i < inner + leaves; i++) {
        const V vz = SET1(cover[i]), vomz = SET1(omz[i]), v = SET1(value[i]);
        const double *above = P + (int64_t)parent[i] * S;
        const double *undo = inverse + (int64_t)previous[i] * S;
        double *up = H + (int64_t)parent[i] * S, *earlier = R + (int64_t)previous[i] * S;
        V sums = zero;
        _Pragma("GCC unroll 8") for (int64_t b = 0; b < blocks; b++) {
            const int64_t k = b * LANES;
            const V f = ADD(vz, MUL(vomz, LOAD(t + k)));
            const V a = MUL(MUL(v, LOAD(w + k)), MUL(LOAD(above + k), LOAD(undo + k)));
            sums = ADD(sums, a);
            const V hk = MUL(a, f);
            STORE(up + k, ADD(LOAD(up + k), hk));
            STORE(earlier + k, ADD(LOAD(earlier + k), hk));
        }
        phi[feature[i]] += omz[i] * HSUM(sums);
    }
    /* up, over the inner nodes in reverse: each edge's share, then its sums go to its
     * parent and to its feature's earlier split */
    for (int64_t i = inner - 1; i >= 0; i--) {
        const double *h = H + (i + 1) * S, *r = R + (i + 1) * S, *inv = inverse + (i + 1) * S;
        double *up = H + (int64_t)parent[i] * S, *earlier = R + (int64_t)previous[i] * S;
        V sums = zero;
        _Pragma("GCC unroll 8") for (int64_t b = 0; b < blocks; b++) {
            const int64_t k = b * LANES;
            const V hk = LOAD(h + k);
            sums = ADD(sums, MUL(SUB(hk, LOAD(r + k)), LOAD(inv + k)));
            STORE(up + k, ADD(LOAD(up + k), hk));
            STORE(earlier + k, ADD(LOAD(earlier + k), hk));
        }
        phi[feature[i]] += omz[i] * HSUM(sums);
    }
}

ATTRIBUTES static int KERNEL(const float *x, int64_t rows, int64_t n_inputs,
                             const int64_t *tree_start, const int32_t *tree_rule,
                             int64_t n_trees, const int32_t *feature, const float *lower,
                             const float *upper, const double *cover, const double *value,
                             const int32_t *parent, const int32_t *previous,
                             const int32_t *inner_count, const int32_t *leaf_count,
                             const double *nodes, const double *weights, double *scratch,
                             int64_t cells, double *out) {
    double *P = scratch, *inverse = scratch + cells, *H = scratch + 2 * cells;
    double *R = scratch + 3 * cells, *omz = scratch + 4 * cells;
    memset(out, 0, (size_t)(rows * n_inputs) * sizeof(double));
    int64_t r = 0;
#ifdef TREE_ROWS
    for (; r + LANES <= rows; r += LANES) {
        const float *four = x + r * n_inputs;
        double *phi = out + r * n_inputs;
        for (int64_t tree = 0; tree < n_trees; tree++) {
            const int64_t base = tree_start[tree];
            const int64_t N = tree_rule[tree];
            const int64_t S = treeshap_padded(N);
            const double *t = nodes + N * MAX_RULE, *w = weights + N * MAX_RULE;
#define PASS(S_)                                                                           \
    TREE_ROWS(four, n_inputs, phi, inner_count[tree], leaf_count[tree], S_, t, w,          \
              feature + base, lower + base, upper + base, cover + base, value + base,      \
              parent + base, previous + base, P, inverse, H, R, omz)
            switch (S) {
            case 4: PASS(4); break;
            case 8: PASS(8); break;
            case 12: PASS(12); break;
            case 16: PASS(16); break;
            default: PASS(S);
            }
#undef PASS
        }
    }
#endif
    for (; r < rows; r++) {
        const float *row = x + r * n_inputs;
        double *phi = out + r * n_inputs;
        for (int64_t tree = 0; tree < n_trees; tree++) {
            const int64_t base = tree_start[tree];
            const int64_t N = tree_rule[tree];
            const int64_t S = treeshap_padded(N);
            const double *t = nodes + N * MAX_RULE, *w = weights + N * MAX_RULE;
#define PASS(blocks)                                                                       \
    TREE(row, phi, inner_count[tree], leaf_count[tree], blocks, t, w, feature + base,      \
         lower + base, upper + base, cover + base, value + base, parent + base,            \
         previous + base, P, inverse, H, R, omz)
            switch (S / LANES) {
            case 1: PASS(1); break;
            case 2: PASS(2); break;
            case 3: PASS(3); break;
            case 4: PASS(4); break;
            default: PASS(S / LANES);
            }
#undef PASS
        }
    }
    return 0;
}
