/*
 * The body of the TreeSHAP kernel, included once per path by treeshap.c with these
 * defined: KERNEL (the function's name), TREE and LEAVES (its passes), ATTRIBUTES (its
 * target), V (a block of LANES doubles), the block operations LOAD, STORE, SET1, ADD,
 * SUB, MUL, DIV and HSUM, and MEETS (each visited node's o times its value, less its
 * cover: treeshap.c's scalar loop, or the same operations eight nodes at a time). Every
 * path performs the same IEEE operations in the same order on every lane, so all give
 * the same bits: only how many lanes one instruction carries differs.
 *
 * Lanes are quadrature nodes: a tree whose rule has N nodes is computed in
 * ceil(N / LANES) blocks, the padding nodes having t = 0 and weight 0 (they add exact
 * zeros). A node's integral is summed block by block into LANES partial sums, which are
 * added, times the node's (o - z) or B, into LANES partial sums per input; HSUM adds
 * those in one fixed order when the row is done. The pass over one tree is inlined for
 * the common block counts, so their loops are unrolled: the arithmetic is the same.
 *
 * Scratch, per inner node's slot (slot 0 stands for the root, and for "no earlier split
 * on the feature": its product and its 1 / f are ones, its sums a sink nobody reads):
 * the product P, 1 / f, the sums H of the leaves below and the corrections R.
 */

/* One run of leaves (treeshap_prepare groups them): `pair`, two sibling leaves at a time
 * (they share their parent, feature and earlier split), and `prior`, with an earlier
 * split on the feature (else P is not undone and nothing goes to a correction). With
 * q = P_parent / f_earlier, the leaves' factors f = z + (o - z) t cancel from their own
 * shares: for the run's one or two leaves, with A = sum v z and B = sum v (o - z),
 *     phi_feature += B sum_n w_n q_n,   and w q (A + B t) goes up (= sum v w P).
 */
ATTRIBUTES static inline __attribute__((always_inline)) int64_t
LEAVES(const int pair, const int prior, int64_t i, const int64_t count, const int64_t S,
       const int64_t blocks, const double *t, const double *w, const int32_t *feature,
       const double *cover, const int32_t *parent, const int32_t *previous, const double *P,
       const double *inverse, double *H, double *R, const double *om, double *phi) {
    const int64_t end = i + (pair ? 2 : 1) * count;
    for (; i < end; i += pair ? 2 : 1) {
        const V A = SET1(pair ? cover[i] + cover[i + 1] : cover[i]);
        const V B = SET1(pair ? om[i] + om[i + 1] : om[i]);
        const double *above = P + (int64_t)parent[i] * S;
        const double *undo = inverse + (int64_t)previous[i] * S;
        double *up = H + (int64_t)parent[i] * S, *earlier = R + (int64_t)previous[i] * S;
        V sums = SET1(0.0);
        _Pragma("GCC unroll 8") for (int64_t b = 0; b < blocks; b++) {
            const int64_t k = b * LANES;
            const V q = prior ? MUL(LOAD(above + k), LOAD(undo + k)) : LOAD(above + k);
            const V a = MUL(LOAD(w + k), q);
            sums = ADD(sums, a);
            const V hk = MUL(a, ADD(A, MUL(B, LOAD(t + k))));
            STORE(up + k, ADD(LOAD(up + k), hk));
            if (prior) STORE(earlier + k, ADD(LOAD(earlier + k), hk));
        }
        double *into = phi + (int64_t)feature[i] * LANES;
        STORE(into, ADD(LOAD(into), MUL(B, sums)));
    }
    return i;
}

ATTRIBUTES static inline __attribute__((always_inline)) void
TREE(const float *row, double *phi, const int32_t *counts, const int64_t blocks,
     const double *t, const double *w, const int32_t *feature, const float *lower,
     const float *upper, const double *cover, const double *value, const int32_t *parent,
     const int32_t *previous, double *P, double *inverse, double *H, double *R, double *om) {
    const int64_t S = blocks * LANES; /* stride: whole blocks */
    const int64_t inner = counts[0];
    const V zero = SET1(0.0), one = SET1(1.0);
    for (int64_t b = 0; b < blocks; b++) { /* slot 0: ones (other trees' slots overlap it) */
        STORE(P + b * LANES, one);
        STORE(inverse + b * LANES, one);
    }
    /* o v - c of every node visited, o = 1 when the row satisfies all the splits on the
     * node's feature from the root: o - z for an inner node (v = 1, c = z), v (o - z)
     * for a leaf (c = v z) */
    const int64_t visited = inner + 2 * counts[1] + 2 * counts[2] + counts[3] + counts[4];
    MEETS(row, visited, feature, lower, upper, cover, value, om);
    /* down, over the inner nodes in pre-order: each one's factor f = z + (o - z) t, its
     * 1 / f, and its product P, its parent's over the factor of the feature's earlier
     * split (1 without one) times f; its sums start at zero */
    for (int64_t i = 0; i < inner; i++) {
        const V vz = SET1(cover[i]), vom = SET1(om[i]);
        const double *above = P + (int64_t)parent[i] * S;
        const double *undo = inverse + (int64_t)previous[i] * S;
        double *here = P + (i + 1) * S, *inv = inverse + (i + 1) * S;
        double *h = H + (i + 1) * S, *r = R + (i + 1) * S;
        _Pragma("GCC unroll 8") for (int64_t b = 0; b < blocks; b++) {
            const int64_t k = b * LANES;
            const V f = ADD(vz, MUL(vom, LOAD(t + k)));
            STORE(inv + k, DIV(one, f));
            STORE(here + k, MUL(MUL(LOAD(above + k), LOAD(undo + k)), f));
            STORE(h + k, zero);
            STORE(r + k, zero);
        }
    }
    /* the leaves, each finished at once (nothing lies below a leaf to correct it) */
    int64_t i = inner;
    i = LEAVES(1, 1, i, counts[1], S, blocks, t, w, feature, cover, parent, previous, P,
               inverse, H, R, om, phi);
    i = LEAVES(1, 0, i, counts[2], S, blocks, t, w, feature, cover, parent, previous, P,
               inverse, H, R, om, phi);
    i = LEAVES(0, 1, i, counts[3], S, blocks, t, w, feature, cover, parent, previous, P,
               inverse, H, R, om, phi);
    LEAVES(0, 0, i, counts[4], S, blocks, t, w, feature, cover, parent, previous, P, inverse,
           H, R, om, phi);
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
        double *into = phi + (int64_t)feature[i] * LANES;
        STORE(into, ADD(LOAD(into), MUL(SET1(om[i]), sums)));
    }
}

ATTRIBUTES static int KERNEL(const float *x, int64_t rows, int64_t n_inputs,
                             const int64_t *tree_start, const int32_t *tree_rule,
                             int64_t n_trees, const int32_t *feature, const float *lower,
                             const float *upper, const double *cover, const double *value,
                             const int32_t *parent, const int32_t *previous,
                             const int32_t *counts, const double *nodes,
                             const double *weights, double *scratch, int64_t cells,
                             int64_t visited, double *out) {
    double *P = scratch, *inverse = scratch + cells, *H = scratch + 2 * cells;
    double *R = scratch + 3 * cells, *om = scratch + 4 * cells;
    double *phi = om + visited; /* per input, LANES partial sums (of LANES rows with AVX2) */
    int64_t r = 0;
#ifdef TREE_ROWS
    for (; r + LANES <= rows; r += LANES) {
        const float *four = x + r * n_inputs;
        memset(phi, 0, (size_t)(n_inputs * LANES * LANES) * sizeof(double));
        for (int64_t tree = 0; tree < n_trees; tree++) {
            const int64_t base = tree_start[tree];
            const int64_t N = tree_rule[tree];
            const double *t = nodes + N * MAX_RULE, *w = weights + N * MAX_RULE;
#define PASS(N_)                                                                           \
    TREE_ROWS(four, n_inputs, phi, counts + tree * COUNTS, N_, treeshap_padded(N_), t, w,  \
              feature + base, lower + base, upper + base, cover + base, value + base,      \
              parent + base, previous + base, P, inverse, H, R, om)
            switch (N) {
            case 6: PASS(6); break;
            case 7: PASS(7); break;
            case 8: PASS(8); break;
            case 9: PASS(9); break;
            case 10: PASS(10); break;
            case 11: PASS(11); break;
            default: PASS(N);
            }
#undef PASS
        }
        for (int64_t j = 0; j < n_inputs; j++) {
            const double *s = phi + j * LANES * LANES; /* s[k * LANES + row] */
            for (int i = 0; i < LANES; i++)
                out[(r + i) * n_inputs + j] =
                    (s[i] + s[LANES + i]) + (s[2 * LANES + i] + s[3 * LANES + i]);
        }
    }
#endif
    for (; r < rows; r++) {
        const float *row = x + r * n_inputs;
        memset(phi, 0, (size_t)(n_inputs * LANES) * sizeof(double));
        for (int64_t tree = 0; tree < n_trees; tree++) {
            const int64_t base = tree_start[tree];
            const int64_t N = tree_rule[tree];
            const int64_t S = treeshap_padded(N);
            const double *t = nodes + N * MAX_RULE, *w = weights + N * MAX_RULE;
#define PASS(blocks)                                                                       \
    TREE(row, phi, counts + tree * COUNTS, blocks, t, w, feature + base, lower + base,     \
         upper + base, cover + base, value + base, parent + base, previous + base, P,      \
         inverse, H, R, om)
            switch (S / LANES) {
            case 1: PASS(1); break;
            case 2: PASS(2); break;
            case 3: PASS(3); break;
            case 4: PASS(4); break;
            default: PASS(S / LANES);
            }
#undef PASS
        }
        for (int64_t j = 0; j < n_inputs; j++) out[r * n_inputs + j] = HSUM(LOAD(phi + j * LANES));
    }
    return 0;
}
