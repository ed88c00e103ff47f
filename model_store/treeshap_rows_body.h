/*
 * ROWS rows at once over one tree: the per-node work (reading the node, the loop) is
 * shared by the rows, which sit in the lanes of a vector. Included by treeshap.c for the
 * AVX2 (four rows) and AVX-512 (eight) paths, with KERNEL_ROWS (the function's name),
 * TREE_ROWS, LEAVES_ROWS, FUSED_ROWS and UP_ROWS (its passes), ATTRIBUTES, V (ROWS
 * doubles) and its operations defined as for treeshap_body.h, and MEETS_ROWS (MEETS for
 * ROWS rows).
 *
 * The same bits as one row at a time (treeshap_body.h), operation for operation: each
 * row's o v - c, 1 / f, products, shares and sums are computed by the same IEEE
 * operations, and go into the same sums per input and quadrature node. Cell (slot, n)
 * holds the rows' values side by side. Only the N quadrature nodes of the rule are
 * visited, not the padding, whose exact zeros change no bit.
 */
ATTRIBUTES static inline __attribute__((always_inline)) int64_t
LEAVES_ROWS(const int pair, const int prior, int64_t i, const int64_t count,
            const int64_t N, const int64_t stride, const double *t, const double *w,
            const int32_t *feature, const double *cover, const int32_t *links, double *PJ,
            const double *UK, const double *om, double *phi, const int64_t F) {
    const int64_t end = i + (pair ? 2 : 1) * count;
    for (; i < end; i += pair ? 2 : 1) {
        const V A = SET1(pair ? cover[i] + cover[i + 1] : cover[i]);
        const V B = pair ? LOAD(om + i * ROWS) + LOAD(om + (i + 1) * ROWS)
                         : LOAD(om + i * ROWS);
        double *above = PJ + links[2 * i] * 2 * stride; /* P, then J */
        const double *u = UK + links[2 * i + 1] * 2 * stride; /* u, then kappa */
        double *into = phi + (int64_t)feature[i] * F * ROWS;
        for (int64_t n = 0; n < N; n++) {
            const int64_t k = n * ROWS;
            const V q = prior ? LOAD(above + k) * LOAD(u + k) : LOAD(above + k);
            const V a = SET1(w[n]) * q;
            const V g = A + B * SET1(t[n]);
            const V share = prior ? a * (B - LOAD(u + stride + k) * g) : a * B;
            STORE(into + k, LOAD(into + k) + share);
            const V wg = SET1(w[n]) * g;
            STORE(above + stride + k,
                  LOAD(above + stride + k) + (prior ? wg * LOAD(u + k) : wg));
        }
    }
    return i;
}

ATTRIBUTES static inline __attribute__((always_inline)) int64_t
UP_ROWS(const int prior, int64_t i, const int64_t count, const int64_t N,
        const int64_t stride, const double *t, const double *w, const int32_t *feature,
        const double *cover, const int32_t *links, double *PJ, const double *UK,
        const double *om, double *phi, const int64_t F) {
    (void)w; /* (the arguments of the other runs) */
    for (const int64_t end = i - count; i > end; i--) {
        const V vz = SET1(cover[i]), vom = LOAD(om + i * ROWS);
        double *above = PJ + links[2 * i] * 2 * stride;
        const double *u = UK + links[2 * i + 1] * 2 * stride;
        const double *sums = PJ + (i + 1) * 2 * stride + stride;
        double *into = phi + (int64_t)feature[i] * F * ROWS;
        for (int64_t n = 0; n < N; n++) {
            const int64_t k = n * ROWS;
            const V sum = LOAD(sums + k), f = vz + vom * SET1(t[n]);
            const V share = prior ? (LOAD(above + k) * LOAD(u + k)) *
                                        (vom - LOAD(u + stride + k) * f)
                                  : LOAD(above + k) * vom;
            STORE(into + k, LOAD(into + k) + share * sum);
            const V ratio = prior ? LOAD(u + k) * f : f;
            STORE(above + stride + k, LOAD(above + stride + k) + ratio * sum);
        }
    }
    return i;
}

ATTRIBUTES static inline __attribute__((always_inline)) int64_t
FUSED_ROWS(const int prior, const int pair_prior, int64_t i, const int64_t count,
           const int64_t N, const int64_t stride, const double *t, const double *w,
           const int32_t *feature, const double *cover, const int32_t *links, double *PJ,
           const double *UK, const double *om, double *phi, const int64_t F) {
    for (const int64_t end = i + 3 * count; i < end; i += 3) {
        const V vz = SET1(cover[i]), vom = LOAD(om + i * ROWS);
        const V A = SET1(cover[i + 1] + cover[i + 2]);
        const V B = LOAD(om + (i + 1) * ROWS) + LOAD(om + (i + 2) * ROWS);
        double *above = PJ + links[2 * i] * 2 * stride;
        const double *u = UK + links[2 * i + 1] * 2 * stride;
        const double *v = UK + links[2 * i + 3] * 2 * stride;
        double *into = phi + (int64_t)feature[i] * F * ROWS;
        double *pair_into = phi + (int64_t)feature[i + 1] * F * ROWS;
        for (int64_t n = 0; n < N; n++) {
            const int64_t k = n * ROWS;
            const V f = vz + vom * SET1(t[n]);
            const V q = prior ? LOAD(above + k) * LOAD(u + k) : LOAD(above + k);
            const V product = q * f;
            const V pair_q = pair_prior ? product * LOAD(v + k) : product;
            const V a = SET1(w[n]) * pair_q;
            const V g = A + B * SET1(t[n]);
            const V pair_share = pair_prior ? a * (B - LOAD(v + stride + k) * g) : a * B;
            STORE(pair_into + k, LOAD(pair_into + k) + pair_share);
            const V wg = SET1(w[n]) * g;
            const V sum = pair_prior ? wg * LOAD(v + k) : wg;
            const V share = prior ? q * (vom - LOAD(u + stride + k) * f) : q * vom;
            STORE(into + k, LOAD(into + k) + share * sum);
            const V ratio = prior ? LOAD(u + k) * f : f;
            STORE(above + stride + k, LOAD(above + stride + k) + ratio * sum);
        }
    }
    return i;
}

ATTRIBUTES static inline __attribute__((always_inline)) void
TREE_ROWS(const float *x, int64_t n_inputs, double *phi, const int64_t F,
          const int32_t *counts, const int64_t N, const double *t, const double *w,
          const int32_t *feature, const float *lower, const float *upper,
          const double *cover, const double *value, const int32_t *links,
          const int32_t *targets,
          const int32_t *runs, double *PJ, double *UK, double *om) {
    const V zero = SET1(0.0), one = SET1(1.0);
    const int64_t stride = N * ROWS, inner = counts[RUN_INNER];
    for (int64_t n = 0; n < N; n++) { /* slots 0 (other trees' slots overlap them) */
        STORE(PJ + n * ROWS, one);
        STORE(UK + n * ROWS, one);
        STORE(UK + stride + n * ROWS, zero);
    }
    MEETS_ROWS(x, n_inputs, treeshap_visited(counts), feature, lower, upper, cover, value, om);
    for (int64_t k = 0; k < counts[RUN_TARGETS]; k++) { /* the earlier splits */
        const int64_t i = targets[k];
        const V vz = SET1(cover[i]), vom = LOAD(om + i * ROWS);
        double *u = UK + (k + 1) * 2 * stride;
        for (int64_t n = 0; n < N; n++) {
            const V inv = one / (vz + vom * SET1(t[n]));
            STORE(u + n * ROWS, inv);
            STORE(u + stride + n * ROWS, vom * inv);
        }
    }
    for (int64_t i = 0; i < inner; i++) { /* down */
        const V vz = SET1(cover[i]), vom = LOAD(om + i * ROWS);
        const double *above = PJ + links[2 * i] * 2 * stride;
        const double *u = UK + links[2 * i + 1] * 2 * stride;
        double *here = PJ + (i + 1) * 2 * stride;
        for (int64_t n = 0; n < N; n++) {
            const int64_t k = n * ROWS;
            const V f = vz + vom * SET1(t[n]);
            STORE(here + k, (LOAD(above + k) * LOAD(u + k)) * f);
            STORE(here + stride + k, zero);
        }
    }
    TREESHAP_PASSES(FUSED_ROWS, LEAVES_ROWS, UP_ROWS, inner, counts, runs, N, stride, t, w,
                    feature, cover, links, PJ, UK, om, phi, F);
}

/* Rows ROWS at a time (`rows` a multiple of ROWS). */
ATTRIBUTES static void KERNEL_ROWS(const Model *m, const float *x, int64_t rows,
                                   int64_t n_inputs, double *scratch, const Scratch *room,
                                   double *out) {
    double *PJ = scratch, *UK = PJ + room->cells, *om = UK + room->earlier;
    double *phi = om + room->visited; /* per input, quadrature node and row, its sums */
    for (int64_t r = 0; r + ROWS <= rows; r += ROWS) {
        const float *some = x + r * n_inputs;
        /* the tree's earlier splits and runs up */
        const int32_t *targets = m->targets, *runs = m->runs;
        memset(phi, 0, (size_t)(n_inputs * room->sums * ROWS) * sizeof(double));
        for (int64_t tree = 0; tree < m->n_trees; tree++) {
            const int64_t base = m->tree_start[tree];
            const int32_t *counts = m->counts + tree * COUNTS;
            const int64_t N = m->tree_rule[tree];
            const double *t = m->nodes + N * MAX_RULE, *w = m->weights + N * MAX_RULE;
#define PASS(N_)                                                                           \
    TREE_ROWS(some, n_inputs, phi, room->sums, counts, N_, t, w, m->feature + base,         \
              m->lower + base, m->upper + base, m->cover + base, m->value + base,          \
              m->links + 2 * base, targets, runs, PJ, UK, om)
            switch (N) { /* the common rules' loops unrolled */
            case 6: PASS(6); break;
            case 7: PASS(7); break;
            case 8: PASS(8); break;
            case 9: PASS(9); break;
            case 10: PASS(10); break;
            case 11: PASS(11); break;
            default: PASS(N);
            }
#undef PASS
            targets += counts[RUN_TARGETS];
            runs += counts[RUN_UP];
        }
        for (int64_t j = 0; j < n_inputs; j++) { /* the sums, in order of n */
            const double *sums = phi + j * room->sums * ROWS; /* sums[n * ROWS + row] */
            for (int64_t i = 0; i < ROWS; i++) {
                double total = sums[i];
                for (int64_t n = 1; n < room->sums; n++) total += sums[n * ROWS + i];
                out[(r + i) * n_inputs + j] = total;
            }
        }
    }
}
