/*
 * Exact path-dependent TreeSHAP over a forest's nodes, in time linear in each tree's size.
 *
 * The formula. For a leaf with value v whose path splits on the distinct features U, let
 * z_j be the product of the cover ratios of the path's splits on feature j, and o_j = 1
 * when the row satisfies all of them (else 0). Path-dependent TreeSHAP gives feature i
 * of U the share
 *
 *     phi_i = v (o_i - z_i) * integral_0^1 prod_{j in U, j != i} f_j(t) dt,
 *     f_j(t) = z_j + (o_j - z_j) t
 *
 * since the Shapley weights k!(d-1-k)!/d! are Beta integrals of t^k (1-t)^(d-1-k). The
 * integrand is a polynomial of degree |U| - 1, so Gauss-Legendre quadrature with
 * ceil(D / 2) nodes, D the most distinct features on any path of the tree, computes it
 * exactly.
 *
 * Sharing work between leaves (the idea of Linear TreeShap, Yu et al. 2022). Going down
 * the tree, each node's product P(t) of its path's factors is its parent's, times the new
 * factor of the feature split on its incoming edge, over that feature's factor at the
 * previous split on it (if any). Going up, H(node) sums v * w_n * P over the leaves below.
 * An edge c on feature i is the last split on i for the leaves below c except those
 * below a deeper split on i (the nodes whose `previous` is c), so
 *
 *     phi_i += (o_c - z_c) * sum_n (H(c) - sum_{d: previous(d) = c} H(d)) / f_c(t_n).
 *
 * Each node costs O(nodes of the quadrature) per row, against O(depth^2) per leaf for the
 * original recursive algorithm.
 *
 * 1 / f by a division per row, not a table. Each inner node's 1 / f is computed once per
 * row, where the node is first met, and kept for its up pass and for the deeper splits on
 * its feature; a leaf needs none, as its own factor cancels: its share is
 * v (o - z) sum_n w_n P_parent / f_previous, and v w P goes up. (The model's 1 / f of met
 * splits used to be an 8 MB table per model, streamed from memory for every row.) Two
 * sibling leaves share their parent, feature and earlier split, so they are finished
 * together: with A = sum v z and B = sum v (o - z) over the two, their shares add up to
 * B sum_n w_n P_parent / f_previous and they send w_n P_parent / f_previous (A + B t) up.
 * A node's share is added into LANES partial sums per input, which are added up once the
 * row is done.
 *
 * The model as the kernel reads it (`treeshap_prepare`, once per model): per tree, its
 * inner nodes in pre-order, then its leaves, each with its feature, bounds, cover, value,
 * and its parent's and earlier split's slots (the inner nodes' scratch rows), so a pass
 * reads the nodes one after another. Bounds become the largest floats at most them: the
 * inputs are floats, so every comparison gives the same answer as with the float64
 * thresholds.
 *
 * The same bits on every CPU. The quadrature nodes are processed in blocks of LANES
 * (treeshap_body.h), and with AVX2 four rows share one pass over a tree's nodes
 * (treeshap_rows_body.h: four lanes of 128-bit registers cost more than they save). The kernel is compiled once per path: a scalar one, one in the
 * baseline instruction set's vectors (SSE2 on x86-64, NEON on arm64), and on x86-64 one
 * in AVX2, chosen at run time by what the CPU supports. All perform the same IEEE
 * operations in the same order, and the build forbids contracting a multiply and an add
 * into one fused instruction (-ffp-contract=off), so every path gives every row the same
 * bits; `path` forces one, for the tests.
 *
 * Rows are independent: a row's values do not depend on the other rows of a call, and the
 * caller may split rows across threads (ctypes releases the GIL during the call).
 *
 * Layout (all arrays C-contiguous, trees one after another):
 *   x          rows x n_inputs  float32 model inputs, exactly what the trees compare
 *   tree_start n_trees + 1      first node of each tree
 *   tree_rule  n_trees          quadrature nodes to use for the tree
 *   nodes, weights              (MAX_RULE + 1) x MAX_RULE: Gauss-Legendre on [0, 1],
 *                               zero beyond each rule's nodes
 *   the artifact's nodes, in pre-order (treeshap_prepare's input):
 *     parent, previous          node indexes within the tree (-1: none)
 *     feature                   feature split on the node's incoming edge
 *     lower, upper, cover       the row satisfies every split on `feature` from the root
 *                               to the node when lower < x <= upper; `cover` is their z
 *     value                     leaf value / number of trees (0 for inner nodes)
 *   the prepared nodes (its output, the kernel's input): the same per visited node, in
 *   the order visited, float bounds, parent and previous as slots, and per tree
 *     counts                    COUNTS runs of nodes: inner nodes, then four of leaves
 *   out        rows x n_inputs  float64, overwritten with each input's contribution
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RULE 32
#define LANES 4
#define COUNTS 5 /* runs of visited nodes per tree (treeshap_prepare) */

enum { PATH_AUTO = 0, PATH_SCALAR = 1, PATH_VECTOR = 2, PATH_AVX2 = 3 };

int treeshap_max_rule(void) { return MAX_RULE; }
int treeshap_lanes(void) { return LANES; }
int treeshap_counts(void) { return COUNTS; }
/* Bumped whenever a function's arguments change: model_store/explainer.py checks it. */
int treeshap_abi(void) { return 5; }

static int64_t treeshap_padded(int64_t rule) { return (rule + LANES - 1) / LANES * LANES; }

static int64_t treeshap_widest(const int64_t *tree_start, int64_t n_trees) {
    int64_t widest = 1;
    for (int64_t tree = 0; tree < n_trees; tree++) {
        const int64_t size = tree_start[tree + 1] - tree_start[tree];
        if (size > widest) widest = size;
    }
    return widest;
}

/* The largest float at most d: for a float x, x <= d exactly when x <= it, and x > d
 * exactly when x > it (no float lies between them), infinities and NaN included. */
static float treeshap_float_at_most(double d) {
    float f = (float)d;
    if ((double)f > d) { /* one float down, toward -infinity */
        uint32_t bits;
        memcpy(&bits, &f, sizeof bits);
        if (f == 0.0f) bits = 0x80000001u; /* below zero: the smallest negative */
        else if (f > 0.0f) bits -= 1;
        else bits += 1;
        memcpy(&f, &bits, sizeof f);
    }
    return f;
}

/* The model as the kernel reads it. Per tree, in the tree's segment of each output
 * array, the nodes it visits (not the root, nor leaves whose value is 0: they add exact
 * zeros), in runs counted by `counts` (COUNTS per tree):
 *   0  its inner nodes in pre-order; inner node k has slot k + 1, the root slot 0
 *   1  pairs of sibling leaves (same parent, feature and earlier split), two at a time,
 *      whose feature has an earlier split on the path
 *   2  pairs of sibling leaves without one
 *   3  single leaves (a sibling is an inner node or left out) with an earlier split
 *   4  single leaves without one
 * Per visited node: its feature, bounds, `node_parent` the parent's slot and
 * `node_previous` the slot of the feature's earlier split on the path (0: none); for an
 * inner node its cover z and value 1, for a leaf its value v and v z. Bounds become the
 * largest floats at most them (the inputs are floats: the same comparisons). A node is a
 * leaf when no node names it as parent. -1: a tree whose rule is out of range, -2: no
 * memory, -4: an earlier split that is not an inner node above the node. */
int treeshap_prepare(const int64_t *tree_start, const int32_t *tree_rule, int64_t n_trees,
                     const int32_t *parent, const int32_t *previous, const int32_t *feature,
                     const double *lower, const double *upper, const double *cover,
                     const double *value, int32_t *node_feature, float *node_lower,
                     float *node_upper, double *node_cover, double *node_value,
                     int32_t *node_parent, int32_t *node_previous, int32_t *counts) {
    const int64_t widest = treeshap_widest(tree_start, n_trees);
    /* per node of a tree: its slot (-1: a leaf), its children, its leaf sibling */
    int32_t *slot = malloc((size_t)widest * 4 * sizeof(int32_t));
    if (slot == NULL) return -2;
    int32_t *first = slot + widest, *second = first + widest, *sibling = second + widest;
    for (int64_t tree = 0; tree < n_trees; tree++) {
        if (tree_rule[tree] < 1 || tree_rule[tree] > MAX_RULE) {
            free(slot);
            return -1;
        }
        const int64_t base = tree_start[tree];
        const int64_t size = tree_start[tree + 1] - base;
        int32_t slots = 0, visited = 0;
        for (int64_t c = 0; c < size; c++) slot[c] = first[c] = second[c] = sibling[c] = -1;
        for (int64_t c = 1; c < size; c++) {
            const int32_t p = parent[base + c];
            slot[p] = 0;
            if (first[p] < 0) first[p] = (int32_t)c;
            else if (second[p] < 0) second[p] = (int32_t)c;
            else second[p] = (int32_t)size; /* more than two children: no pairs */
        }
        for (int64_t c = 1; c < size; c++)
            if (slot[c] == 0) slot[c] = ++slots;
        slot[0] = 0;
        for (int64_t c = 1; c < size; c++) {
            const int64_t g = base + c;
            const int32_t p = previous[g];
            if (p >= 0 && (p >= c || slot[p] <= 0)) {
                free(slot);
                return -4;
            }
            const int32_t a = first[parent[g]], b = second[parent[g]];
            const int32_t other = a == c ? b : a; /* when c has one sibling */
            if (slot[c] < 0 && b >= 0 && b < size && slot[other] < 0 &&
                value[g] != 0.0 && value[base + other] != 0.0 &&
                feature[base + other] == feature[g] && previous[base + other] == p)
                sibling[c] = other;
        }
        int32_t *count = counts + tree * COUNTS;
        for (int run = 0; run < COUNTS; run++) {
            count[run] = 0;
            for (int64_t c = 1; c < size; c++) {
                const int64_t g = base + c;
                const int leaf = slot[c] < 0, prior = previous[g] >= 0;
                const int pair = sibling[c] >= 0;
                if (run == 0 ? leaf
                             : !leaf || value[g] == 0.0 || prior != (run % 2 == 1) ||
                                   pair != (run <= 2) || (pair && sibling[c] < c))
                    continue; /* not of this run, or the second of a pair */
                count[run]++;
                for (int second_of_pair = 0; second_of_pair <= (run > 0 && pair); second_of_pair++) {
                    const int64_t h = second_of_pair ? base + sibling[c] : g;
                    const int64_t v = base + visited++;
                    node_feature[v] = feature[h];
                    node_lower[v] = treeshap_float_at_most(lower[h]);
                    node_upper[v] = treeshap_float_at_most(upper[h]);
                    node_cover[v] = run == 0 ? cover[h] : value[h] * cover[h];
                    node_value[v] = run == 0 ? 1.0 : value[h];
                    node_parent[v] = slot[parent[h]];
                    node_previous[v] = previous[h] >= 0 ? slot[previous[h]] : 0;
                }
            }
        }
    }
    free(slot);
    return 0;
}

/* Each visited node's o v - c (o = 1 when lower < x <= upper, else 0), one at a time:
 * the scalar and baseline vector paths' MEETS (AVX2's does eight nodes at once). */
__attribute__((optimize("no-tree-vectorize", "no-tree-slp-vectorize"))) static void
treeshap_meets(const float *row, int64_t count, const int32_t *feature, const float *lower,
               const float *upper, const double *cover, const double *value, double *om) {
    for (int64_t i = 0; i < count; i++) {
        const float input = row[feature[i]];
        om[i] = (double)((input > lower[i]) & (input <= upper[i])) * value[i] - cover[i];
    }
}

/* -- the scalar path: LANES doubles in a struct, one operation at a time -------------- */
typedef struct { double lane[LANES]; } Scalar;
static inline Scalar s_load(const double *p) { Scalar v; for (int i = 0; i < LANES; i++) v.lane[i] = p[i]; return v; }
static inline void s_store(double *p, Scalar v) { for (int i = 0; i < LANES; i++) p[i] = v.lane[i]; }
static inline Scalar s_set1(double x) { Scalar v; for (int i = 0; i < LANES; i++) v.lane[i] = x; return v; }
static inline Scalar s_add(Scalar a, Scalar b) { for (int i = 0; i < LANES; i++) a.lane[i] += b.lane[i]; return a; }
static inline Scalar s_sub(Scalar a, Scalar b) { for (int i = 0; i < LANES; i++) a.lane[i] -= b.lane[i]; return a; }
static inline Scalar s_mul(Scalar a, Scalar b) { for (int i = 0; i < LANES; i++) a.lane[i] *= b.lane[i]; return a; }
static inline Scalar s_div(Scalar a, Scalar b) { for (int i = 0; i < LANES; i++) a.lane[i] /= b.lane[i]; return a; }
static inline double s_hsum(Scalar v) { return (v.lane[0] + v.lane[1]) + (v.lane[2] + v.lane[3]); }

#define KERNEL treeshap_scalar
#define TREE treeshap_scalar_tree
#define LEAVES treeshap_scalar_leaves
#define MEETS treeshap_meets
#define ATTRIBUTES __attribute__((optimize("no-tree-vectorize", "no-tree-slp-vectorize")))
#define V Scalar
#define LOAD s_load
#define STORE s_store
#define SET1 s_set1
#define ADD s_add
#define SUB s_sub
#define MUL s_mul
#define DIV s_div
#define HSUM s_hsum
#include "treeshap_body.h"
#undef DIV
#undef KERNEL
#undef TREE
#undef LEAVES
#undef ATTRIBUTES
#undef V
#undef LOAD
#undef STORE
#undef SET1
#undef ADD
#undef SUB
#undef MUL
#undef HSUM

/* -- the vector paths: GCC's vector extension, lowered to the target's registers ------- */
/* Aligned like a double, so a block may start at any node: loads and stores unaligned. */
typedef double Vector __attribute__((vector_size(LANES * sizeof(double)), aligned(sizeof(double))));
#define V_OPS                                                                              \
    static inline Vector VNAME(set1)(double x) { Vector v = {x, x, x, x}; return v; }    \
    static inline double VNAME(hsum)(Vector v) { return (v[0] + v[1]) + (v[2] + v[3]); }
#define V_LOAD(p) (*(const Vector *)(p))
#define V_STORE(p, v) (*(Vector *)(p) = (v))

#define VECTOR_KERNEL                                                                      \
    V_OPS                                                                                  \
    /* the body follows */
#define V Vector
#define ADD(a, b) ((a) + (b))
#define SUB(a, b) ((a) - (b))
#define MUL(a, b) ((a) * (b))
#define DIV(a, b) ((a) / (b))

#define VNAME(op) v_##op
VECTOR_KERNEL
#define KERNEL treeshap_vector
#define TREE treeshap_vector_tree
#define LEAVES treeshap_vector_leaves
#define ATTRIBUTES
#define LOAD V_LOAD
#define STORE V_STORE
#define SET1 v_set1
#define HSUM v_hsum
#include "treeshap_body.h"
#undef KERNEL
#undef TREE
#undef LEAVES
#undef MEETS
#undef ATTRIBUTES
#undef LOAD
#undef STORE
#undef SET1
#undef HSUM
#undef VNAME

#if defined(__x86_64__)
#pragma GCC push_options
#pragma GCC target("avx2")
#include <immintrin.h>
/* MEETS eight nodes at a time: the inputs gathered, compared as floats, each 32-bit
 * mask widened to 64 bits and ANDed with 1.0 (exactly the 0.0 or 1.0 of the scalar
 * loop's conversion), then the same multiply and subtract. */
static inline void avx2_meets(const float *row, int64_t count, const int32_t *feature,
                              const float *lower, const float *upper, const double *cover,
                              const double *value, double *om) {
    const __m256d one = _mm256_set1_pd(1.0);
    int64_t i = 0;
    for (; i + 8 <= count; i += 8) {
        const __m256 input =
            _mm256_i32gather_ps(row, _mm256_loadu_si256((const __m256i *)(feature + i)), 4);
        const __m256i met = _mm256_castps_si256(
            _mm256_and_ps(_mm256_cmp_ps(input, _mm256_loadu_ps(lower + i), _CMP_GT_OQ),
                          _mm256_cmp_ps(input, _mm256_loadu_ps(upper + i), _CMP_LE_OQ)));
        for (int half = 0; half < 2; half++) {
            const __m128i four = half ? _mm256_extracti128_si256(met, 1)
                                      : _mm256_castsi256_si128(met);
            const __m256d o = _mm256_and_pd(_mm256_castsi256_pd(_mm256_cvtepi32_epi64(four)), one);
            _mm256_storeu_pd(om + i + 4 * half,
                             _mm256_sub_pd(_mm256_mul_pd(o, _mm256_loadu_pd(value + i + 4 * half)),
                                           _mm256_loadu_pd(cover + i + 4 * half)));
        }
    }
    /* the rest one at a time */
    treeshap_meets(row, count - i, feature + i, lower + i, upper + i, cover + i, value + i,
                   om + i);
}
/* MEETS for four rows (their values side by side): the node's input in each row
 * gathered, the same operations. */
static inline void avx2_meets_rows(const float *x, int64_t n_inputs, int64_t count,
                                   const int32_t *feature, const float *lower,
                                   const float *upper, const double *cover,
                                   const double *value, double *om) {
    const __m256d one = _mm256_set1_pd(1.0);
    const __m128i rows = _mm_setr_epi32(0, (int)n_inputs, 2 * (int)n_inputs, 3 * (int)n_inputs);
    for (int64_t i = 0; i < count; i++) {
        const __m128 input = _mm_i32gather_ps(x + feature[i], rows, 4);
        const __m128i met = _mm_castps_si128(_mm_and_ps(_mm_cmpgt_ps(input, _mm_set1_ps(lower[i])),
                                                        _mm_cmple_ps(input, _mm_set1_ps(upper[i]))));
        const __m256d o = _mm256_and_pd(_mm256_castsi256_pd(_mm256_cvtepi32_epi64(met)), one);
        _mm256_storeu_pd(om + i * LANES, _mm256_sub_pd(_mm256_mul_pd(o, _mm256_set1_pd(value[i])),
                                                       _mm256_set1_pd(cover[i])));
    }
}
#define VNAME(op) avx2_##op
VECTOR_KERNEL
#define KERNEL treeshap_avx2
#define TREE treeshap_avx2_tree
#define LEAVES treeshap_avx2_leaves
#define TREE_ROWS treeshap_avx2_rows
#define LEAVES_ROWS treeshap_avx2_leaves_rows
#define MEETS avx2_meets
#define MEETS_ROWS avx2_meets_rows
#define ATTRIBUTES
#define LOAD V_LOAD
#define STORE V_STORE
#define SET1 avx2_set1
#define HSUM avx2_hsum
#include "treeshap_rows_body.h"
#include "treeshap_body.h"
#undef TREE_ROWS
#pragma GCC pop_options
#endif

/* Which paths this CPU can take: bit p set for path p. */
int treeshap_paths(void) {
    int paths = (1 << PATH_SCALAR) | (1 << PATH_VECTOR);
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) paths |= 1 << PATH_AVX2;
#endif
    return paths;
}

/* The path taken for `path` (PATH_AUTO: the widest the CPU supports), or -1. */
int treeshap_path(int path) {
    const int paths = treeshap_paths();
    if (path == PATH_AUTO) return (paths & (1 << PATH_AVX2)) ? PATH_AVX2 : PATH_VECTOR;
    return (path > 0 && path <= PATH_AVX2 && (paths & (1 << path))) ? path : -1;
}

int treeshap(const float *x, int64_t rows, int64_t n_inputs, const int64_t *tree_start,
             const int32_t *tree_rule, int64_t n_trees, const int32_t *feature,
             const float *lower, const float *upper, const double *cover, const double *value,
             const int32_t *parent, const int32_t *previous, const int32_t *counts,
             const double *nodes, const double *weights, int path, double *out) {
    int64_t slots = 1, visited = 1, S = LANES;
    for (int64_t tree = 0; tree < n_trees; tree++) {
        const int32_t *count = counts + tree * COUNTS;
        if (tree_rule[tree] < 1 || tree_rule[tree] > MAX_RULE) return -1;
        if (count[0] + 1 > slots) slots = count[0] + 1;
        const int64_t nodes_visited = count[0] + 2 * count[1] + 2 * count[2] + count[3] + count[4];
        if (nodes_visited > visited) visited = nodes_visited;
        if (treeshap_padded(tree_rule[tree]) > S) S = treeshap_padded(tree_rule[tree]);
    }
    const int chosen = treeshap_path(path);
    if (chosen < 0) return -3;
    /* per slot and quadrature node: the product P, 1 / f, the sums H and corrections R;
     * each visited node's o v - c; per input, LANES partial sums; room for four rows of
     * each with AVX2 */
    const int64_t lanes = chosen == PATH_AVX2 && rows >= LANES ? LANES : 1;
    const int64_t cells = slots * S * lanes, rules = (MAX_RULE + 1) * MAX_RULE;
    const int64_t room = treeshap_padded(visited * lanes); /* o v - c */
    /* Every part starts a multiple of four doubles from a cache line's start, so no
     * block of four doubles straddles two lines (malloc aligns to 16 bytes only). The
     * quadrature rules are copied there too. */
    double *block = malloc(
        (size_t)(4 * cells + room + n_inputs * LANES * lanes + 2 * rules + 8) * sizeof(double));
    if (block == NULL) return -2;
    double *scratch = (double *)(((uintptr_t)block + 63) & ~(uintptr_t)63);
    double *rule_nodes = scratch + 4 * cells + room + n_inputs * LANES * lanes;
    double *rule_weights = rule_nodes + rules;
    memcpy(rule_nodes, nodes, (size_t)rules * sizeof(double));
    memcpy(rule_weights, weights, (size_t)rules * sizeof(double));
    int (*kernel)(const float *, int64_t, int64_t, const int64_t *, const int32_t *, int64_t,
                  const int32_t *, const float *, const float *, const double *,
                  const double *, const int32_t *, const int32_t *, const int32_t *,
                  const double *, const double *, double *, int64_t, int64_t, double *) =
        chosen == PATH_SCALAR ? treeshap_scalar : treeshap_vector;
#if defined(__x86_64__)
    if (chosen == PATH_AVX2) kernel = treeshap_avx2;
#endif
    const int status = kernel(x, rows, n_inputs, tree_start, tree_rule, n_trees, feature,
                              lower, upper, cover, value, parent, previous, counts,
                              rule_nodes, rule_weights, scratch, cells, room, out);
    free(block);
    return status;
}
