/*
 * The body of the TreeSHAP kernel, included once per path by treeshap.c with these
 * defined: KERNEL (the function's name), ATTRIBUTES (its target), V (a block of LANES
 * doubles) and the block operations LOAD, STORE, SET1, ADD, SUB, MUL, SELECT (one block
 * or the other, whole, by a flag: no arithmetic) and HSUM. Every path
 * performs the same IEEE operations in the same order on every lane, so all give the
 * same bits: only how many lanes one instruction carries differs.
 *
 * Lanes are quadrature nodes: a tree whose rule has N nodes is computed in
 * ceil(N / LANES) blocks, the padding nodes having t = 0 and weight 0 (they add exact
 * zeros). A node's integral is summed block by block into LANES partial sums, then HSUM
 * adds those in one fixed order. The pass over one tree is inlined for the common block
 * counts, so their loops are unrolled: the arithmetic is the same.
 */
ATTRIBUTES static inline __attribute__((always_inline)) void
TREE(const float *row, double *phi, const int64_t base, const int32_t *order,
     const int64_t inner, const int64_t leaves, const int64_t S,
     const int64_t blocks, const double *t, const double *w, const double *u,
     const double *table, const int32_t *parent, const int32_t *previous,
     const int32_t *feature, const double *lower, const double *upper, const double *cover,
     const double *value, double *P, double *inverse, double *H, double *R,
     const double *ones, double *spare, unsigned char *met) {
    for (int64_t n = 0; n < S; n++) {
        P[n] = 1.0;
        H[n] = 0.0; /* the root's sums: never read, but written by its children */
    }
    /* down, over the inner nodes in pre-order (`order`, from treeshap_prepare):
     * products of the factors along each path, and each edge's 1 / f; the sums of the up
     * pass start at zero here, where the node is in cache. Then the leaves, each finished
     * at once: its sum is v w P, nothing corrects it (no split lies below a leaf), and it
     * goes to its parent and its feature's earlier split. (A leaf whose value is 0 adds
     * exact zeros: it is left out.) Inner nodes and leaves in separate runs: no branch
     * on which a node is, which would mispredict at every other node. */
    for (int64_t i = 0; i < inner + leaves; i++) {
        const int64_t c = order[i];
        const int64_t g = base + c;
        const double input = (double)row[feature[g]];
        const double z = cover[g];
        const int o = (input > lower[g]) & (input <= upper[g]);
        const V omz = SET1((double)o - z), vz = SET1(z), zero = SET1(0.0);
        const double *above = P + (int64_t)parent[g] * S;
        /* 1 / f without a division: met, the model's own table; unmet, f is z (1 - t),
         * so 1 / z times the rule's 1 / (1 - t) */
        const double *known = table + c * S;
        const V unmet = SET1(1.0 / z);
        /* without an earlier split on the feature, undo by 1 (exact) */
        const double *undo = previous[g] >= 0 ? inverse + (int64_t)previous[g] * S : ones;
        if (i >= inner) { /* the leaves, after every inner node */
            const V v = SET1(value[g]);
            V sums = zero;
            double *up = H + (int64_t)parent[g] * S;
            double *earlier = previous[g] >= 0 ? R + (int64_t)previous[g] * S : spare;
            for (int64_t b = 0; b < blocks; b++) {
                const int64_t k = b * LANES;
                const V f = ADD(vz, MUL(omz, LOAD(t + k)));
                const V inv = SELECT(o, LOAD(known + k), MUL(unmet, LOAD(u + k)));
                const V here = MUL(MUL(LOAD(above + k), f), LOAD(undo + k));
                const V hk = MUL(MUL(v, LOAD(w + k)), here);
                sums = ADD(sums, MUL(hk, inv));
                STORE(up + k, ADD(LOAD(up + k), hk));
                STORE(earlier + k, ADD(LOAD(earlier + k), hk));
            }
            phi[feature[g]] += ((double)o - z) * HSUM(sums);
            continue;
        }
        double *here = P + c * S, *inv = inverse + c * S;
        met[c] = (unsigned char)o;
        for (int64_t b = 0; b < blocks; b++) {
            const int64_t k = b * LANES;
            const V f = ADD(vz, MUL(omz, LOAD(t + k)));
            STORE(inv + k, SELECT(o, LOAD(known + k), MUL(unmet, LOAD(u + k))));
            STORE(here + k, MUL(MUL(LOAD(above + k), f), LOAD(undo + k)));
            STORE(H + c * S + k, zero);
            STORE(R + c * S + k, zero);
        }
    }
    /* up: each inner edge's share, then hand its sums to parent and previous */
    for (int64_t i = inner - 1; i >= 0; i--) {
        const int64_t c = order[i];
        const int64_t g = base + c;
        const double *h = H + c * S;
        const double *correction = R + c * S, *inv = inverse + c * S;
        V sums = SET1(0.0);
        double *up = H + (int64_t)parent[g] * S;
        /* without an earlier split on the feature, the sums go to a spare row */
        double *earlier = previous[g] >= 0 ? R + (int64_t)previous[g] * S : spare;
        for (int64_t b = 0; b < blocks; b++) {
            const int64_t k = b * LANES;
            const V hk = LOAD(h + k);
            sums = ADD(sums, MUL(SUB(hk, LOAD(correction + k)), LOAD(inv + k)));
            STORE(up + k, ADD(LOAD(up + k), hk));
            STORE(earlier + k, ADD(LOAD(earlier + k), hk));
        }
        phi[feature[g]] += ((double)met[c] - cover[g]) * HSUM(sums);
    }
}

ATTRIBUTES static int KERNEL(const float *x, int64_t rows, int64_t n_inputs,
                             const int64_t *tree_start, const int32_t *tree_rule,
                             int64_t n_trees, const int32_t *parent, const int32_t *previous,
                             const int32_t *feature, const double *lower, const double *upper,
                             const double *cover, const double *value, const double *nodes,
                             const double *weights, const double *met_inverse,
                             const double *unmet_inverse, const int32_t *order,
                             const int32_t *inner_count, const int32_t *leaf_count,
                             double *scratch, unsigned char *met, double *out) {
    const int64_t widest = treeshap_widest(tree_start, n_trees);
    const int64_t cells = widest * MAX_RULE * LANES; /* room for four rows' cells */
    double *P = scratch, *inverse = scratch + cells, *H = scratch + 2 * cells;
    double *R = scratch + 3 * cells, *ones = scratch + 4 * cells;
    double *spare = ones + MAX_RULE * LANES, *met_rows = spare + MAX_RULE * LANES;
    for (int64_t n = 0; n < MAX_RULE * LANES; n++) ones[n] = 1.0;
    memset(out, 0, (size_t)(rows * n_inputs) * sizeof(double));
    int64_t r = 0;
#ifdef TREE_ROWS
    for (; r + LANES <= rows; r += LANES) {
        const float *four = x + r * n_inputs;
        double *phi = out + r * n_inputs;
        const double *table = met_inverse;
        for (int64_t tree = 0; tree < n_trees; tree++) {
            const int64_t base = tree_start[tree];
            const int64_t size = tree_start[tree + 1] - base;
            const int64_t N = tree_rule[tree];
            const int64_t S = treeshap_padded(N);
            const double *t = nodes + N * MAX_RULE, *w = weights + N * MAX_RULE;
            const double *u = unmet_inverse + N * MAX_RULE;
            if (size >= 2) {
#define PASS(S_)                                                                           \
    TREE_ROWS(four, n_inputs, phi, base, order + base, inner_count[tree], leaf_count[tree],  \
              S_, t, w, u, table, parent, previous, feature, lower, upper, cover, value, P,  \
              inverse, H, R, ones, spare, met_rows)
                switch (S) {
                case 4: PASS(4); break;
                case 8: PASS(8); break;
                case 12: PASS(12); break;
                case 16: PASS(16); break;
                default: PASS(S);
                }
#undef PASS
            }
            table += size * S;
        }
    }
#else
    (void)met_rows;
#endif
    for (; r < rows; r++) {
        const float *row = x + r * n_inputs;
        double *phi = out + r * n_inputs;
        const double *table = met_inverse; /* this tree's 1 / f for met splits */
        for (int64_t tree = 0; tree < n_trees; tree++) {
            const int64_t base = tree_start[tree];
            const int64_t size = tree_start[tree + 1] - base;
            const int64_t N = tree_rule[tree];
            const int64_t S = treeshap_padded(N); /* stride: whole blocks */
            const double *t = nodes + N * MAX_RULE, *w = weights + N * MAX_RULE;
            const double *u = unmet_inverse + N * MAX_RULE;
            if (size >= 2) { /* a single leaf explains nothing */
#define PASS(blocks)                                                                       \
    TREE(row, phi, base, order + base, inner_count[tree], leaf_count[tree], S, blocks, t, w, \
         u, table, parent, previous, feature, lower, upper, cover, value, P, inverse, H, R,  \
         ones, spare, met)
                switch (S / LANES) {
                case 1: PASS(1); break;
                case 2: PASS(2); break;
                case 3: PASS(3); break;
                case 4: PASS(4); break;
                default: PASS(S / LANES);
                }
#undef PASS
            }
            table += size * S;
        }
    }
    return 0;
}
