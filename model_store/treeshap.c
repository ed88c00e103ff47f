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
 * No division per row. Since o is 0 or 1, f at a quadrature node takes one of two values,
 * both the model's alone: z + (1 - z) t when the split is met, z (1 - t) when it is not.
 * `treeshap_prepare` computes 1 / f for met splits once per model (`met_inverse`, one
 * value per node and quadrature node); for unmet ones 1 / f is 1 / z times the rule's
 * 1 / (1 - t) (`unmet_inverse`).
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
 * Layout (all arrays C-contiguous, nodes of each tree in pre-order, trees one after another):
 *   x          rows x n_inputs  float32 model inputs, exactly what the trees compare
 *   tree_start n_trees + 1      first node of each tree
 *   tree_rule  n_trees          quadrature nodes to use for the tree
 *   parent, previous            node indexes within the tree (-1: none)
 *   feature                     feature split on the node's incoming edge
 *   lower, upper, cover         the row satisfies every split on `feature` from the root
 *                               to the node when lower < x <= upper; `cover` is their z
 *   value                       leaf value / number of trees (0 for inner nodes)
 *   nodes, weights              (MAX_RULE + 1) x MAX_RULE: Gauss-Legendre on [0, 1],
 *                               zero beyond each rule's nodes
 *   met_inverse                 per tree, size x padded(rule): 1 / f of met splits
 *   unmet_inverse               (MAX_RULE + 1) x MAX_RULE: 1 / (1 - t)
 *   order, inner_count,         per tree: its inner nodes in pre-order, then its leaves
 *   leaf_count                  (treeshap_prepare)
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
int treeshap_abi(void) { return 3; }

static int64_t treeshap_padded(int64_t rule) { return (rule + LANES - 1) / LANES * LANES; }

static int64_t treeshap_widest(const int64_t *tree_start, int64_t n_trees) {
    int64_t widest = 1;
    for (int64_t tree = 0; tree < n_trees; tree++) {
        const int64_t size = tree_start[tree + 1] - tree_start[tree];
        if (size > widest) widest = size;
    }
    return widest;
}

/* How many doubles `met_inverse` holds for these trees. */
int64_t treeshap_table_size(const int64_t *tree_start, const int32_t *tree_rule,
                            int64_t n_trees) {
    int64_t total = 0;
    for (int64_t tree = 0; tree < n_trees; tree++)
        total += (tree_start[tree + 1] - tree_start[tree]) * treeshap_padded(tree_rule[tree]);
    return total;
}

/* The model's tables: 1 / f of each node's split when met, per quadrature node, and each
 * rule's 1 / (1 - t) (every t lies in [0, 1), padding included). */
int treeshap_prepare(const int64_t *tree_start, const int32_t *tree_rule, int64_t n_trees,
                     const int32_t *parent, const double *cover, const double *value,
                     const double *nodes, double *met_inverse, double *unmet_inverse,
                     int32_t *order, int32_t *inner_count, int32_t *leaf_count) {
    /* per tree, its inner nodes (not the root) in pre-order, then its leaves whose value
     * is not 0 (the others add exact zeros): what the passes visit. A node is a leaf when
     * no node names it as parent. */
    unsigned char *splits = malloc((size_t)treeshap_widest(tree_start, n_trees));
    if (splits == NULL) return -2;
    for (int64_t tree = 0; tree < n_trees; tree++) {
        const int64_t base = tree_start[tree];
        const int64_t size = tree_start[tree + 1] - base;
        int32_t inner = 0, leaves = 0;
        memset(splits, 0, (size_t)size);
        for (int64_t c = 1; c < size; c++) splits[parent[base + c]] = 1;
        for (int64_t c = 1; c < size; c++)
            if (splits[c]) order[base + inner++] = (int32_t)c;
        for (int64_t c = 1; c < size; c++)
            if (!splits[c] && value[base + c] != 0.0) order[base + inner + leaves++] = (int32_t)c;
        inner_count[tree] = inner;
        leaf_count[tree] = leaves;
    }
    free(splits);
    for (int64_t n = 0; n < (MAX_RULE + 1) * MAX_RULE; n++)
        unmet_inverse[n] = 1.0 / (1.0 - nodes[n]);
    double *table = met_inverse;
    for (int64_t tree = 0; tree < n_trees; tree++) {
        const int64_t base = tree_start[tree];
        const int64_t size = tree_start[tree + 1] - base;
        const int64_t N = tree_rule[tree];
        if (N < 1 || N > MAX_RULE) return -1;
        const int64_t S = treeshap_padded(N);
        const double *t = nodes + N * MAX_RULE;
        for (int64_t c = 0; c < size; c++) {
            const double z = cover[base + c];
            for (int64_t n = 0; n < S; n++) table[c * S + n] = 1.0 / (z + (1.0 - z) * t[n]);
        }
        table += size * S;
    }
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
static inline Scalar s_select(int flag, Scalar a, Scalar b) { return flag ? a : b; }
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
#define HSUM s_hsum
#define SELECT s_select
#include "treeshap_body.h"
#undef SELECT
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
typedef long long Mask __attribute__((vector_size(LANES * sizeof(double)), aligned(sizeof(double))));
/* a or b by their bits, without a branch: a flag that changes from node to node would
 * mispredict half the time */
#define SELECT(flag, a, b)                                                                 \
    ((Vector)((((Mask)(a)) & -(Mask){(flag), (flag), (flag), (flag)}) |                   \
              (((Mask)(b)) & ~-(Mask){(flag), (flag), (flag), (flag)})))
#define V_LOAD(p) (*(const Vector *)(p))
#define V_STORE(p, v) (*(Vector *)(p) = (v))

#define VECTOR_KERNEL                                                                      \
    V_OPS                                                                                  \
    /* the body follows */
#define V Vector
#define ADD(a, b) ((a) + (b))
#define SUB(a, b) ((a) - (b))
#define MUL(a, b) ((a) * (b))

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
             const int32_t *tree_rule, int64_t n_trees, const int32_t *parent,
             const int32_t *previous, const int32_t *feature, const double *lower,
             const double *upper, const double *cover, const double *value,
             const double *nodes, const double *weights, const double *met_inverse,
             const double *unmet_inverse, const int32_t *order, const int32_t *inner_count,
             const int32_t *leaf_count, int path, double *out) {
    for (int64_t tree = 0; tree < n_trees; tree++)
        if (tree_rule[tree] < 1 || tree_rule[tree] > MAX_RULE) return -1;
    const int chosen = treeshap_path(path);
    if (chosen < 0) return -3;
    const int64_t widest = treeshap_widest(tree_start, n_trees);
    /* per node and quadrature node: the product P, 1 / f, the sums H and corrections R */
    /* ... room for four rows of each, rows of ones and spare cells, four rows' flags */
    double *scratch = malloc(
        (size_t)(4 * widest * MAX_RULE * LANES + 2 * MAX_RULE * LANES + widest * LANES) *
        sizeof(double));
    unsigned char *met = malloc((size_t)widest);
    if (scratch == NULL || met == NULL) {
        free(scratch);
        free(met);
        return -2;
    }
    int (*kernel)(const float *, int64_t, int64_t, const int64_t *, const int32_t *, int64_t,
                  const int32_t *, const int32_t *, const int32_t *, const double *,
                  const double *, const double *, const double *, const double *,
                  const double *, const double *, const double *, const int32_t *,
                  const int32_t *, const int32_t *, double *, unsigned char *, double *) =
        chosen == PATH_SCALAR ? treeshap_scalar : treeshap_vector;
#if defined(__x86_64__)
    if (chosen == PATH_AVX2) kernel = treeshap_avx2;
#endif
    const int status = kernel(x, rows, n_inputs, tree_start, tree_rule, n_trees, parent,
                              previous, feature, lower, upper, cover, value, nodes, weights,
                              met_inverse, unmet_inverse, order, inner_count, leaf_count,
                              scratch, met, out);
    free(scratch);
    free(met);
    return status;
}
