/*
 * The body of the TreeSHAP kernel for one row at a time, included once per path by
 * treeshap.c with these defined: KERNEL (the function's name), TREE, LEAVES, FUSED and
 * UP (its passes), ATTRIBUTES (its target), WIDTH and V (a block of WIDTH doubles), the
 * block operations LOAD, STORE, SET1, ADD, SUB, MUL and DIV, and MEETS (each visited
 * node's o v - c: treeshap.c's scalar loop, or the same operations eight nodes at a
 * time).
 * Every path performs the same IEEE operations in the same order on every quadrature
 * node, so all give the same bits: only how many quadrature nodes one instruction
 * carries differs.
 *
 * Lanes are quadrature nodes: a tree whose rule has N nodes is computed in
 * ceil(N / WIDTH) blocks, the padding nodes having t = 0 and weight 0 (or, where NARROW
 * is defined, in NARROW's blocks of NARROW_WIDTH when those pad less). A node's share
 * is added per quadrature node into the input's sums (one per quadrature node), which
 * are added up in order of n when the row is done, so no sum depends on the width; the
 * padding adds exact zeros (+0 or -0 into sums that are never -0), which change no bit.
 * The pass over one tree is inlined for the common block counts, so their loops are
 * unrolled: the arithmetic is the same.
 *
 * Scratch, per inner node's slot k + 1 (slot 0 stands for the root, its J a sink): its
 * product P, then its sums J; per earlier split's slot (0: none, ones and zeros), its
 * 1 / f (u), then (o - z) / f (kappa).
 */

/* One run of leaves (treeshap_prepare groups them): `pair`, two sibling leaves at a time
 * (they share their parent, feature and earlier split), and `prior`, with an earlier
 * split on the feature (else u = 1 and kappa = 0, and their operations are left out:
 * multiplying by 1 and subtracting 0 x g change no bit). With q = P_parent u, the
 * leaves' factors f = z + (o - z) t cancel from their own shares: for the run's one or
 * two leaves, with A = sum v z, B = sum v (o - z) and g = A + B t = sum v f,
 *     phi_feature += sum_n w q (B - kappa g),   J_parent += w g u.
 */
ATTRIBUTES static inline __attribute__((always_inline)) int64_t
LEAVES(const int pair, const int prior, int64_t i, const int64_t count, const int64_t S,
       const int64_t blocks, const double *t, const double *w, const int32_t *feature,
       const double *cover, const int32_t *links, double *PJ, const double *UK,
       const double *om, double *phi, const int64_t F) {
    const int64_t end = i + (pair ? 2 : 1) * count;
    for (; i < end; i += pair ? 2 : 1) {
        const V A = SET1(pair ? cover[i] + cover[i + 1] : cover[i]);
        const V B = SET1(pair ? om[i] + om[i + 1] : om[i]);
        double *above = PJ + (int64_t)links[2 * i] * 2 * S; /* P, then J */
        const double *u = UK + (int64_t)links[2 * i + 1] * 2 * S; /* u, then kappa */
        double *into = phi + (int64_t)feature[i] * F;
        _Pragma("GCC unroll 8") for (int64_t b = 0; b < blocks; b++) {
            const int64_t k = b * WIDTH;
            const V q = prior ? MUL(LOAD(above + k), LOAD(u + k)) : LOAD(above + k);
            const V a = MUL(LOAD(w + k), q);
            const V g = ADD(A, MUL(B, LOAD(t + k)));
            const V share = prior ? MUL(a, SUB(B, MUL(LOAD(u + S + k), g))) : MUL(a, B);
            STORE(into + k, ADD(LOAD(into + k), share));
            const V wg = MUL(LOAD(w + k), g);
            const V sum = prior ? MUL(wg, LOAD(u + k)) : wg;
            STORE(above + S + k, ADD(LOAD(above + S + k), sum));
        }
    }
    return i;
}

/* One run of the way up: `prior`, nodes with a previous split on their feature (else
 * u = 1 and kappa = 0 and their operations are left out, which changes no bit). With
 * q = P_parent u and f as on the way down, each node's share q (o - z - kappa f) J (its
 * own, less its previous split's correction), and its sums to its parent's, relative to
 * the parent's product: u f J. */
ATTRIBUTES static inline __attribute__((always_inline)) int64_t
UP(const int prior, int64_t i, const int64_t count, const int64_t S, const int64_t blocks,
   const double *t, const double *w, const int32_t *feature, const double *cover,
   const int32_t *links, double *PJ, const double *UK, const double *om, double *phi,
   const int64_t F) {
    (void)w; /* (the arguments of the other runs) */
    for (const int64_t end = i - count; i > end; i--) {
        const V vz = SET1(cover[i]), vom = SET1(om[i]);
        double *above = PJ + (int64_t)links[2 * i] * 2 * S;
        const double *u = UK + (int64_t)links[2 * i + 1] * 2 * S;
        const double *sums = PJ + (i + 1) * 2 * S + S;
        double *into = phi + (int64_t)feature[i] * F;
        _Pragma("GCC unroll 8") for (int64_t b = 0; b < blocks; b++) {
            const int64_t k = b * WIDTH;
            const V sum = LOAD(sums + k), f = ADD(vz, MUL(vom, LOAD(t + k)));
            const V share = prior ? MUL(MUL(LOAD(above + k), LOAD(u + k)),
                                        SUB(vom, MUL(LOAD(u + S + k), f)))
                                  : MUL(LOAD(above + k), vom);
            STORE(into + k, ADD(LOAD(into + k), MUL(share, sum)));
            const V ratio = prior ? MUL(LOAD(u + k), f) : f;
            STORE(above + S + k, ADD(LOAD(above + S + k), MUL(ratio, sum)));
        }
    }
    return i;
}

/* One run of inner nodes whose children are a pair of leaves, three nodes at a time:
 * the node's way down, its pair and its way up at once (nobody else needs its product
 * or its sums). `prior`, an earlier split on the node's feature, `pair_prior`, on the
 * pair's; the operations are those of the passes down, LEAVES and UP. */
ATTRIBUTES static inline __attribute__((always_inline)) int64_t
FUSED(const int prior, const int pair_prior, int64_t i, const int64_t count,
      const int64_t S, const int64_t blocks, const double *t, const double *w,
      const int32_t *feature, const double *cover, const int32_t *links, double *PJ,
      const double *UK, const double *om, double *phi, const int64_t F) {
    for (const int64_t end = i + 3 * count; i < end; i += 3) {
        const V vz = SET1(cover[i]), vom = SET1(om[i]); /* the node */
        const V A = SET1(cover[i + 1] + cover[i + 2]), B = SET1(om[i + 1] + om[i + 2]);
        double *above = PJ + (int64_t)links[2 * i] * 2 * S; /* its parent: P, then J */
        const double *u = UK + (int64_t)links[2 * i + 1] * 2 * S;
        const double *v = UK + (int64_t)links[2 * i + 3] * 2 * S; /* the pair's u, kappa */
        double *into = phi + (int64_t)feature[i] * F;
        double *pair_into = phi + (int64_t)feature[i + 1] * F;
        _Pragma("GCC unroll 8") for (int64_t b = 0; b < blocks; b++) {
            const int64_t k = b * WIDTH;
            const V f = ADD(vz, MUL(vom, LOAD(t + k)));
            const V q = prior ? MUL(LOAD(above + k), LOAD(u + k)) : LOAD(above + k);
            const V product = MUL(q, f);
            const V pair_q = pair_prior ? MUL(product, LOAD(v + k)) : product;
            const V a = MUL(LOAD(w + k), pair_q);
            const V g = ADD(A, MUL(B, LOAD(t + k)));
            const V pair_share =
                pair_prior ? MUL(a, SUB(B, MUL(LOAD(v + S + k), g))) : MUL(a, B);
            STORE(pair_into + k, ADD(LOAD(pair_into + k), pair_share));
            const V wg = MUL(LOAD(w + k), g);
            const V sum = pair_prior ? MUL(wg, LOAD(v + k)) : wg;
            const V share = prior ? MUL(q, SUB(vom, MUL(LOAD(u + S + k), f))) : MUL(q, vom);
            STORE(into + k, ADD(LOAD(into + k), MUL(share, sum)));
            const V ratio = prior ? MUL(LOAD(u + k), f) : f;
            STORE(above + S + k, ADD(LOAD(above + S + k), MUL(ratio, sum)));
        }
    }
    return i;
}

ATTRIBUTES static inline __attribute__((always_inline)) void
TREE(const float *row, double *phi, const int64_t F, const int32_t *counts,
     const int64_t blocks, const double *t, const double *w, const int32_t *feature,
     const float *lower, const float *upper, const double *cover, const double *value,
     const int32_t *links, const int32_t *targets, const int32_t *runs, double *PJ,
     double *UK, double *om) {
    const int64_t S = blocks * WIDTH; /* stride: whole blocks */
    const int64_t inner = counts[RUN_INNER];
    const V zero = SET1(0.0), one = SET1(1.0);
    for (int64_t b = 0; b < blocks; b++) { /* slots 0 (other trees' slots overlap them) */
        STORE(PJ + b * WIDTH, one);             /* the root's product */
        STORE(UK + b * WIDTH, one);             /* no earlier split: u = 1, kappa = 0 */
        STORE(UK + S + b * WIDTH, zero);
    }
    /* o v - c of every node visited, o = 1 when the row satisfies all the splits on the
     * node's feature from the root: o - z for an inner node (v = 1, c = z), v (o - z)
     * for a leaf (c = v z) */
    MEETS(row, treeshap_visited(counts), feature, lower, upper, cover, value, om);
    /* the earlier splits: 1 / f and (o - z) / f, f = z + (o - z) t, the only divisions */
    for (int64_t k = 0; k < counts[RUN_TARGETS]; k++) {
        const int64_t i = targets[k];
        const V vz = SET1(cover[i]), vom = SET1(om[i]);
        double *u = UK + (k + 1) * 2 * S;
        _Pragma("GCC unroll 8") for (int64_t b = 0; b < blocks; b++) {
            const int64_t n = b * WIDTH;
            const V inv = DIV(one, ADD(vz, MUL(vom, LOAD(t + n))));
            STORE(u + n, inv);
            STORE(u + S + n, MUL(vom, inv));
        }
    }
    /* down, over the inner nodes, each after its parent: with u = 1 / f of the feature's
     * earlier split (1 without one), the node's product P = P_parent u f; its sums J
     * start at zero */
    for (int64_t i = 0; i < inner; i++) {
        const V vz = SET1(cover[i]), vom = SET1(om[i]);
        const double *above = PJ + (int64_t)links[2 * i] * 2 * S;
        const double *u = UK + (int64_t)links[2 * i + 1] * 2 * S;
        double *here = PJ + (i + 1) * 2 * S;
        _Pragma("GCC unroll 8") for (int64_t b = 0; b < blocks; b++) {
            const int64_t k = b * WIDTH;
            const V f = ADD(vz, MUL(vom, LOAD(t + k)));
            STORE(here + k, MUL(MUL(LOAD(above + k), LOAD(u + k)), f));
            STORE(here + S + k, zero);
        }
    }
    TREESHAP_PASSES(FUSED, LEAVES, UP, inner, counts, runs, S, blocks, t, w, feature, cover,
                    links, PJ, UK, om, phi, F);
}

ATTRIBUTES static void KERNEL(const Model *m, const float *x, int64_t rows,
                              int64_t n_inputs, double *scratch, const Scratch *room,
                              double *out) {
    double *PJ = scratch, *UK = PJ + room->cells, *om = UK + room->earlier;
    double *phi = om + room->visited; /* per input and quadrature node, its sums */
    for (int64_t r = 0; r < rows; r++) {
        const float *row = x + r * n_inputs;
        /* the tree's earlier splits and runs up */
        const int32_t *targets = m->targets, *runs = m->runs;
        memset(phi, 0, (size_t)(n_inputs * room->sums) * sizeof(double));
        for (int64_t tree = 0; tree < m->n_trees; tree++) {
            const int64_t base = m->tree_start[tree];
            const int32_t *counts = m->counts + tree * COUNTS;
            const int64_t N = m->tree_rule[tree];
            const double *t = m->nodes + N * MAX_RULE, *w = m->weights + N * MAX_RULE;
#define PASS(FUNCTION, blocks)                                                             \
    FUNCTION(row, phi, room->sums, counts, blocks, t, w, m->feature + base,                 \
             m->lower + base, m->upper + base, m->cover + base, m->value + base,           \
             m->links + 2 * base, targets, runs, PJ, UK, om)
#ifdef NARROW /* a rule that half-width blocks pad less: NARROW's pass, with its blocks */
            if ((N + WIDTH - 1) / WIDTH * WIDTH >
                (N + NARROW_WIDTH - 1) / NARROW_WIDTH * NARROW_WIDTH) {
                switch ((N + NARROW_WIDTH - 1) / NARROW_WIDTH) {
                case 3: PASS(NARROW, 3); break;
                default: PASS(NARROW, (N + NARROW_WIDTH - 1) / NARROW_WIDTH);
                }
            } else
#endif
            switch ((N + WIDTH - 1) / WIDTH) {
            case 1: PASS(TREE, 1); break;
            case 2: PASS(TREE, 2); break;
            case 3: PASS(TREE, 3); break;
            case 4: PASS(TREE, 4); break;
            default: PASS(TREE, (N + WIDTH - 1) / WIDTH);
            }
#undef PASS
            targets += counts[RUN_TARGETS];
            runs += counts[RUN_UP];
        }
        for (int64_t j = 0; j < n_inputs; j++) { /* the sums, in order of n */
            const double *sums = phi + j * room->sums;
            double total = sums[0];
            for (int64_t n = 1; n < room->sums; n++) total += sums[n];
            out[r * n_inputs + j] = total;
        }
    }
}
