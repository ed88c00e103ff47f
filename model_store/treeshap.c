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
 * splits used to be an 8 MB table per model, streamed from memory for every row.)
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
 *   the order visited, float bounds, parent and previous as slots; and per tree
 *     inner_count, leaf_count   how many inner nodes and leaves it visits
 *   out        rows x n_inputs  float64, overwritten with each input's contribution
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RULE 32
#define LANES 4

enum { PATH_AUTO = 0, PATH_SCALAR = 1, PATH_VECTOR = 2, PATH_AVX2 = 3 };

int treeshap_max_rule(void) { return MAX_RULE; }
int treeshap_lanes(void) { return LANES; }
/* Bumped whenever a function's arguments change: model_store/explainer.py checks it. */
int treeshap_abi(void) { return 4; }

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
 * array: its inner nodes but the root, in pre-order (`inner_count` of them), then its
 * leaves whose value is not 0 (`leaf_count`; the others add exact zeros). Inner node k
 * of that order has slot k + 1, the root slot 0; `node_parent` is the parent's slot,
 * `node_previous` the slot of the feature's earlier split on the path (0: none). Bounds
 * become floats at most them (the inputs are floats: the same comparisons). A node is a
 * leaf when no node names it as parent. -1: a tree whose rule is out of range, -2: no
 * memory, -4: an earlier split that is not an inner node above the node. */
int treeshap_prepare(const int64_t *tree_start, const int32_t *tree_rule, int64_t n_trees,
                     const int32_t *parent, const int32_t *previous, const int32_t *feature,
                     const double *lower, const double *upper, const double *cover,
                     const double *value, int32_t *node_feature, float *node_lower,
                     float *node_upper, double *node_cover, double *node_value,
                     int32_t *node_parent, int32_t *node_previous, int32_t *inner_count,
                     int32_t *leaf_count) {
    const int64_t widest = treeshap_widest(tree_start, n_trees);
    int32_t *slot = malloc((size_t)widest * sizeof(int32_t));
    if (slot == NULL) return -2;
    for (int64_t tree = 0; tree < n_trees; tree++) {
        if (tree_rule[tree] < 1 || tree_rule[tree] > MAX_RULE) {
            free(slot);
            return -1;
        }
        const int64_t base = tree_start[tree];
        const int64_t size = tree_start[tree + 1] - base;
        int32_t slots = 0, visited = 0;
        for (int64_t c = 0; c < size; c++) slot[c] = -1; /* -1: a leaf */
        for (int64_t c = 1; c < size; c++) slot[parent[base + c]] = 0;
        for (int64_t c = 1; c < size; c++)
            if (slot[c] == 0) slot[c] = ++slots;
        slot[0] = 0;
        for (int pass = 0; pass < 2; pass++) /* the inner nodes, then the leaves */
            for (int64_t c = 1; c < size; c++) {
                const int64_t g = base + c;
                if (pass == 0 ? slot[c] <= 0 : slot[c] >= 0 || value[g] == 0.0) continue;
                const int32_t p = previous[g];
                if (p >= 0 && (p >= c || slot[p] <= 0)) {
                    free(slot);
                    return -4;
                }
                const int64_t v = base + visited++;
                node_feature[v] = feature[g];
                node_lower[v] = treeshap_float_at_most(lower[g]);
                node_upper[v] = treeshap_float_at_most(upper[g]);
                node_cover[v] = cover[g];
                node_value[v] = value[g];
                node_parent[v] = slot[parent[g]];
                node_previous[v] = p >= 0 ? slot[p] : 0;
            }
        inner_count[tree] = slots;
        leaf_count[tree] = visited - slots;
    }
    free(slot);
    return 0;
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
#define ATTRIBUTES
#define LOAD V_LOAD
#define STORE V_STORE
#define SET1 v_set1
#define HSUM v_hsum
#include "treeshap_body.h"
#undef KERNEL
#undef TREE
#undef ATTRIBUTES
#undef LOAD
#undef STORE
#undef SET1
#undef HSUM
#undef VNAME

#if defined(__x86_64__)
#pragma GCC push_options
#pragma GCC target("avx2")
#define VNAME(op) avx2_##op
VECTOR_KERNEL
#define KERNEL treeshap_avx2
#define TREE treeshap_avx2_tree
#define TREE_ROWS treeshap_avx2_rows
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
             const int32_t *parent, const int32_t *previous, const int32_t *inner_count,
             const int32_t *leaf_count, const double *nodes, const double *weights, int path,
             double *out) {
    int64_t slots = 1, visited = 1, S = LANES;
    for (int64_t tree = 0; tree < n_trees; tree++) {
        if (tree_rule[tree] < 1 || tree_rule[tree] > MAX_RULE) return -1;
        if (inner_count[tree] + 1 > slots) slots = inner_count[tree] + 1;
        if (inner_count[tree] + leaf_count[tree] > visited)
            visited = inner_count[tree] + leaf_count[tree];
        if (treeshap_padded(tree_rule[tree]) > S) S = treeshap_padded(tree_rule[tree]);
    }
    const int chosen = treeshap_path(path);
    if (chosen < 0) return -3;
    /* per slot and quadrature node: the product P, 1 / f, the sums H and corrections R,
     * then each visited node's o - z; room for four rows of each with AVX2 */
    const int64_t lanes = chosen == PATH_AVX2 && rows >= LANES ? LANES : 1;
    const int64_t cells = slots * S * lanes;
    double *scratch = malloc((size_t)(4 * cells + visited * lanes) * sizeof(double));
    if (scratch == NULL) return -2;
    int (*kernel)(const float *, int64_t, int64_t, const int64_t *, const int32_t *, int64_t,
                  const int32_t *, const float *, const float *, const double *,
                  const double *, const int32_t *, const int32_t *, const int32_t *,
                  const int32_t *, const double *, const double *, double *, int64_t,
                  double *) = chosen == PATH_SCALAR ? treeshap_scalar : treeshap_vector;
#if defined(__x86_64__)
    if (chosen == PATH_AVX2) kernel = treeshap_avx2;
#endif
    const int status = kernel(x, rows, n_inputs, tree_start, tree_rule, n_trees, feature,
                              lower, upper, cover, value, parent, previous, inner_count,
                              leaf_count, nodes, weights, scratch, cells, out);
    free(scratch);
    return status;
}
