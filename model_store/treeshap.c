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
 * factor f of the feature split on its incoming edge, times u = 1 / f of that feature's
 * previous split on the path (u = 1 without one). Feature i's share from edge c sums,
 * over the leaves below c whose last split on i is c, v w_n P / f_c. Two things make
 * that cheap:
 *
 * - Relative sums, no division per node. Going up, J(c) sums v w_n P(leaf) / P(c) over
 *   the leaves below c: a child d hands its parent u_d f_d J(d) (P(d) / P(parent)), a
 *   leaf v w_n u f. With q(c) = P(parent) u_c = P(c) / f_c, edge c's sum over all its
 *   leaves is q(c) J(c), and the leaves below a deeper split d on the same feature
 *   (previous(d) = c) take back P(d) J(d) u_c. Giving that correction to d itself, every
 *   inner node d adds
 *
 *       phi_i += sum_n q(d) (o_d - z_d - kappa_d f_d) J(d),   kappa_d = (o_c - z_c) u_c,
 *
 *   with c = previous(d) (kappa = 0 without one). The only divisions are u of the nodes
 *   that are some node's previous split (a fifth of the inner nodes here), once per row.
 *   A leaf's own factor cancels from its share: v w_n q (o - z - kappa f).
 * - Two sibling leaves share their parent, feature and previous split, so they are
 *   finished together: with A = sum v z, B = sum v (o - z) and g = A + B t = sum v f
 *   over the two, they add sum_n w_n q (B - kappa g) and hand up w_n u g. And since
 *   nothing else lies below their parent, its way down and up are done with them, at
 *   once (a third of the inner nodes here).
 *
 * Each node costs O(nodes of the quadrature) per row, against O(depth^2) per leaf for the
 * original recursive algorithm. (An earlier version divided H(c) by f_c at every inner
 * node and, before that, read 1 / f from an 8 MB table per model for every row.)
 *
 * The model as the kernel reads it (`treeshap_prepare`, once per model): per tree, its
 * inner nodes in the order of the way down, then the inner nodes over a pair of leaves
 * with their pair (in four runs: with a previous split on the node's feature or not, on
 * the pair's or not), then its other leaves in four runs (pairs or not, with a previous
 * split on their feature or not), each node with its feature, bounds, cover and value,
 * its parent's slot (its row in the scratch) and its previous split's (its row of u and
 * kappa), so a pass reads the nodes one after another. The way up takes the inner nodes
 * in runs alternately without and with a previous split (u = 1 and kappa = 0 left out in
 * the first, three quarters of the nodes here), each node after its children and nodes
 * of a level mostly one after another (they do not wait for each other); the way down
 * is the same order backwards. Bounds become the largest floats at most them: the inputs
 * are floats, so every comparison gives the same answer as with the float64
 * thresholds.
 *
 * The same bits on every CPU. Each node's share is added into one sum per input and
 * quadrature node, and an input's sums are added in order of n when the row is done, so
 * no sum depends on how many quadrature nodes an instruction carries. The kernel is
 * compiled once per path, each taking the quadrature nodes in blocks of its width: a
 * scalar one (1), one in the baseline instruction set's vectors (2: SSE2 on x86-64,
 * NEON on arm64), and on x86-64 AVX2 (4) and AVX-512 (8), chosen at run time by what the
 * CPU supports; with AVX2 four rows, with AVX-512 eight, also share one pass over a
 * tree's nodes (treeshap_rows_body.h). All perform the same IEEE operations in the same
 * order, and the build forbids contracting a multiply and an add into one fused instruction
 * (-ffp-contract=off), so every path gives every row the same bits; `path` forces one,
 * for the tests. Padding (a rule's nodes up to a whole block) has weight 0 and adds exact
 * zeros, which change no bit: the sums are never -0.
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
 *   the prepared nodes (its output, the kernel's input), per visited node in the order
 *   visited: feature, float bounds, cover (v z for a leaf), value (1 for an inner node),
 *     links                     its parent's slot and its previous split's slot
 *     targets                   per tree, the inner nodes that are a previous split
 *     runs                      per tree, the lengths of the runs of the way up
 *     counts                    COUNTS per tree: the runs of nodes, the targets, the runs
 *                               of the way up
 *   out        rows x n_inputs  float64, overwritten with each input's contribution
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RULE 32
#define LANES 4   /* AVX2's doubles in a block, and rows in a pass */
#define COUNTS 11 /* per tree: runs of nodes, earlier splits, runs up (treeshap_prepare) */

enum { PATH_AUTO = 0, PATH_SCALAR = 1, PATH_VECTOR = 2, PATH_AVX2 = 3, PATH_AVX512 = 4 };

int treeshap_max_rule(void) { return MAX_RULE; }
int treeshap_lanes(void) { return LANES; }
int treeshap_counts(void) { return COUNTS; }
/* Bumped whenever a function's arguments change: model_store/explainer.py checks it. */
int treeshap_abi(void) { return 10; }

static int64_t treeshap_padded(int64_t n, int64_t width) {
    return (n + width - 1) / width * width;
}

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
 *   0      its inner nodes (but those of runs 7 to 10), each after its parent (the way
 *          up backwards); the k-th has slot k + 1, the root slot 0
 *   1, 2   pairs of sibling leaves (same parent, feature and earlier split), two at a
 *          time, whose feature has an earlier split on the path (1) or not (2): those
 *          whose parent is the root (the others are in runs 7 to 10)
 *   3, 4   single leaves (a sibling is an inner node or left out), with an earlier split
 *          (3) or not (4)
 *   7-10   inner nodes whose children are a pair, three at a time (the node, then the
 *          pair): with an earlier split on the node's feature and on the pair's (7), on
 *          the node's only (8), on the pair's only (9), on neither (10)
 * and counts[5], the inner nodes that are some node's earlier split (`node_targets`:
 * their places in the tree's runs; the k-th has earlier-split slot k + 1), and
 * counts[6], the runs of the way up, run 0 from its end (`node_runs`: their lengths,
 * alternately without and with an earlier split). Each tree's targets and runs follow
 * the previous tree's.
 * Per visited node: its feature, bounds, `node_links` its parent's slot (0 for a leaf of
 * runs 7 to 10) and the earlier-split slot of its feature's earlier split on the path
 * (0: none); for an inner node its cover z and value 1, for a leaf its value v and v z.
 * Bounds become the largest floats at most them (the inputs are floats: the same
 * comparisons). A node is a leaf when no node names it as parent. -1: a tree whose rule
 * is out of range, -2: no memory, -4: an earlier split that is not an inner node above
 * the node. */
int treeshap_prepare(const int64_t *tree_start, const int32_t *tree_rule, int64_t n_trees,
                     const int32_t *parent, const int32_t *previous, const int32_t *feature,
                     const double *lower, const double *upper, const double *cover,
                     const double *value, int32_t *node_feature, float *node_lower,
                     float *node_upper, double *node_cover, double *node_value,
                     int32_t *node_links, int32_t *node_targets, int32_t *node_runs,
                     int32_t *counts) {
    enum { LEAF = 0, INNER = 1, FUSED = 2 }; /* FUSED: an inner node over a pair */
    const int64_t widest = treeshap_widest(tree_start, n_trees);
    int64_t targeted = 0, ran = 0; /* the trees before: targets, runs up */
    /* per node of a tree: its kind, slot, children, leaf sibling, earlier-split slot (0:
     * no node's earlier split), depth, place among the visited nodes, inner children
     * still to go up; the nodes in breadth-first order; two queues; the way up */
    int32_t *kind = malloc((size_t)widest * 13 * sizeof(int32_t));
    if (kind == NULL) return -2;
    int32_t *slot = kind + widest, *first = slot + widest, *second = first + widest;
    int32_t *sibling = second + widest, *target = sibling + widest;
    int32_t *depth = target + widest;
    int32_t *place = depth + widest, *pending = place + widest, *order = pending + widest;
    int32_t *queue[2] = {order + widest, order + 2 * widest}, *lift = order + 3 * widest;
    for (int64_t tree = 0; tree < n_trees; tree++) {
        if (tree_rule[tree] < 1 || tree_rule[tree] > MAX_RULE) {
            free(kind);
            return -1;
        }
        const int64_t base = tree_start[tree];
        const int64_t size = tree_start[tree + 1] - base;
        int32_t *count = counts + tree * COUNTS;
        for (int run = 0; run < COUNTS; run++) count[run] = 0;
        for (int64_t c = 0; c < size; c++) {
            kind[c] = LEAF;
            slot[c] = first[c] = second[c] = sibling[c] = -1;
            target[c] = depth[c] = pending[c] = 0;
        }
        int32_t deepest = 0;
        for (int64_t c = 1; c < size; c++) {
            const int32_t p = parent[base + c];
            depth[c] = depth[p] + 1;
            if (depth[c] > deepest) deepest = depth[c];
            kind[p] = INNER;
            if (first[p] < 0) first[p] = (int32_t)c;
            else if (second[p] < 0) second[p] = (int32_t)c;
            else second[p] = (int32_t)size; /* more than two children: no pairs */
        }
        for (int64_t c = 1; c < size; c++) {
            const int64_t g = base + c;
            const int32_t p = previous[g];
            if (p >= 0 && (p >= c || kind[p] == LEAF)) {
                free(kind);
                return -4;
            }
            if (p >= 0) target[p] = 1;
            const int32_t a = first[parent[g]], b = second[parent[g]];
            const int32_t other = a == c ? b : a; /* when c has one sibling */
            if (kind[c] == LEAF && b >= 0 && b < size && kind[other] == LEAF &&
                value[g] != 0.0 && value[base + other] != 0.0 &&
                feature[base + other] == feature[g] && previous[base + other] == p)
                sibling[c] = other;
        }
        for (int64_t c = 1; c < size; c++)
            if (kind[c] == INNER && sibling[first[c]] >= 0) kind[c] = FUSED;
        /* breadth-first, so that the nodes of one level, which do not depend on each
         * other, follow each other in the passes (in pre-order, a node's child is often
         * the next node, which must wait for it) */
        int64_t placed = 0;
        for (int32_t level = 0; level <= deepest; level++)
            for (int64_t c = 0; c < size; c++)
                if (depth[c] == level) order[placed++] = (int32_t)c;
        /* The way up (run 0's nodes) in runs alternately without and with a previous
         * split on the node's feature (the first may be empty), each node after its
         * inner children: the runs without one skip u and kappa. Greedy: a run takes
         * every node of its kind that is or becomes ready, first in, first out. The way
         * down is the way up backwards (each node after its parent), so run 0 is in
         * that order and the way up reads it from its end: slot k + 1 for the k-th. */
        for (int64_t c = 1; c < size; c++)
            if (kind[c] == INNER) pending[parent[base + c]]++;
        int64_t head[2] = {0, 0}, tail[2] = {0, 0}, lifted = 0;
        for (int64_t k = size - 1; k >= 1; k--) { /* the deepest first */
            const int32_t c = order[k];
            if (kind[c] == INNER && pending[c] == 0) {
                const int prior = previous[base + c] >= 0;
                queue[prior][tail[prior]++] = c;
            }
        }
        for (int prior = 0; head[0] < tail[0] || head[1] < tail[1]; prior ^= 1) {
            int32_t length = 0;
            while (head[prior] < tail[prior]) {
                const int32_t c = queue[prior][head[prior]++], p = parent[base + c];
                lift[lifted++] = c;
                length++;
                if (p > 0 && --pending[p] == 0) {
                    const int other = previous[base + p] >= 0;
                    queue[other][tail[other]++] = p;
                }
            }
            node_runs[ran + count[6]++] = length;
        }
        slot[0] = 0;
        for (int64_t k = 0; k < lifted; k++) slot[lift[lifted - 1 - k]] = (int32_t)k + 1;
        for (int64_t k = 1; k < size; k++)
            if (target[order[k]]) target[order[k]] = ++count[5];
        /* the visited nodes, run by run */
        int32_t visited = 0;
        static const int runs[9] = {0, 7, 8, 9, 10, 1, 2, 3, 4}; /* the order of the runs */
        for (int r = 0; r < 9; r++) {
            const int run = runs[r];
            for (int64_t k = run == 0 ? 0 : 1; k < (run == 0 ? lifted : size); k++) {
                const int32_t c = run == 0 ? lift[lifted - 1 - k] : order[k];
                const int64_t g = base + c;
                const int prior = previous[g] >= 0;
                int match, group = 1; /* match: c heads a group of `group` nodes of run */
                if (run == 0) match = kind[c] == INNER;
                else if (run >= 7) {
                    const int pair_prior =
                        kind[c] == FUSED && previous[base + first[c]] >= 0;
                    match = kind[c] == FUSED && prior == (run <= 8) &&
                            pair_prior == (run == 7 || run == 9);
                    group = 3;
                } else {
                    const int pair = sibling[c] >= 0;
                    match = kind[c] == LEAF && value[g] != 0.0 && prior == (run % 2 == 1) &&
                            pair == (run <= 2) && kind[parent[g]] != FUSED &&
                            !(pair && sibling[c] < c); /* a pair's second comes with it */
                    group = pair ? 2 : 1;
                }
                if (!match) continue;
                count[run]++;
                for (int member = 0; member < group; member++) {
                    const int32_t n = member == 0   ? c
                                      : group == 2  ? sibling[c]
                                      : member == 1 ? first[c]
                                                    : second[c];
                    const int64_t h = base + n, v = base + visited;
                    place[n] = visited++;
                    node_feature[v] = feature[h];
                    node_lower[v] = treeshap_float_at_most(lower[h]);
                    node_upper[v] = treeshap_float_at_most(upper[h]);
                    node_cover[v] = kind[n] != LEAF ? cover[h] : value[h] * cover[h];
                    node_value[v] = kind[n] != LEAF ? 1.0 : value[h];
                    node_links[2 * v] = slot[parent[h]] > 0 ? slot[parent[h]] : 0;
                    node_links[2 * v + 1] = previous[h] >= 0 ? target[previous[h]] : 0;
                }
            }
        }
        for (int64_t k = 1; k < size; k++)
            if (target[order[k]])
                node_targets[targeted + target[order[k]] - 1] = place[order[k]];
        targeted += count[5];
        ran += count[6];
    }
    free(kind);
    return 0;
}

/* The runs of a tree's `counts`, as treeshap_prepare's comment describes them. */
enum {
    RUN_INNER = 0,
    RUN_PAIRS_EARLIER = 1, RUN_PAIRS = 2,   /* sibling leaves, two at a time */
    RUN_SINGLE_EARLIER = 3, RUN_SINGLE = 4, /* single leaves */
    RUN_TARGETS = 5, RUN_UP = 6,            /* earlier splits, runs of the way up */
    RUN_FUSED_BOTH = 7, RUN_FUSED_NODE = 8, RUN_FUSED_PAIR = 9, RUN_FUSED_NEITHER = 10
};

/* How many nodes of a tree are visited: the inner nodes, the leaves, and each node over
 * a pair with its pair. */
static inline int64_t treeshap_visited(const int32_t *counts) {
    return counts[RUN_INNER] + 2 * counts[RUN_PAIRS_EARLIER] + 2 * counts[RUN_PAIRS] +
           counts[RUN_SINGLE_EARLIER] + counts[RUN_SINGLE] +
           3 * (counts[RUN_FUSED_BOTH] + counts[RUN_FUSED_NODE] + counts[RUN_FUSED_PAIR] +
                counts[RUN_FUSED_NEITHER]);
}

/* A tree's passes after the way down, in the one order every body runs them: the inner
 * nodes over a pair, then the other leaves, each finished at once; then up, from the last
 * inner node, in the runs treeshap_prepare chose (each node after its inner children).
 * `fused`, `leaves`, `up`: the body's passes; what follows `runs`: their arguments. */
#define TREESHAP_PASSES(fused, leaves, up, inner, counts, runs, ...)                        \
    do {                                                                                   \
        int64_t i_ = (inner);                                                              \
        i_ = fused(1, 1, i_, (counts)[RUN_FUSED_BOTH], __VA_ARGS__);                       \
        i_ = fused(1, 0, i_, (counts)[RUN_FUSED_NODE], __VA_ARGS__);                       \
        i_ = fused(0, 1, i_, (counts)[RUN_FUSED_PAIR], __VA_ARGS__);                       \
        i_ = fused(0, 0, i_, (counts)[RUN_FUSED_NEITHER], __VA_ARGS__);                    \
        i_ = leaves(1, 1, i_, (counts)[RUN_PAIRS_EARLIER], __VA_ARGS__);                   \
        i_ = leaves(1, 0, i_, (counts)[RUN_PAIRS], __VA_ARGS__);                           \
        i_ = leaves(0, 1, i_, (counts)[RUN_SINGLE_EARLIER], __VA_ARGS__);                  \
        leaves(0, 0, i_, (counts)[RUN_SINGLE], __VA_ARGS__);                               \
        for (int64_t r_ = 0, j_ = (inner) - 1; r_ < (counts)[RUN_UP]; r_++) {              \
            if (r_ % 2) j_ = up(1, j_, (runs)[r_], __VA_ARGS__);                           \
            else j_ = up(0, j_, (runs)[r_], __VA_ARGS__);                                  \
        }                                                                                  \
    } while (0)

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

/* Scratch sizes, in doubles, for the widest tree of a call: `cells` per array of slots
 * by quadrature nodes, `earlier` per array of earlier-split slots, `visited` for o v - c,
 * and `sums` per input (the sums of one quadrature node each); all multiples of 8, so
 * every array starts on a cache line. */
typedef struct {
    int64_t cells, earlier, visited, sums;
} Scratch;

/* The model, as treeshap_prepare laid it out, and the quadrature rules. */
typedef struct {
    const int64_t *tree_start;
    const int32_t *tree_rule;
    int64_t n_trees;
    const int32_t *feature;
    const float *lower, *upper;
    const double *cover, *value;
    const int32_t *links, *targets, *runs, *counts;
    const double *nodes, *weights;
} Model;

/* -- the scalar path: one double at a time ---------------------------------------- */
#define KERNEL treeshap_scalar
#define TREE treeshap_scalar_tree
#define LEAVES treeshap_scalar_leaves
#define FUSED treeshap_scalar_fused
#define UP treeshap_scalar_up
#define MEETS treeshap_meets
#define ATTRIBUTES __attribute__((optimize("no-tree-vectorize", "no-tree-slp-vectorize")))
#define WIDTH 1
#define V double
#define LOAD(p) (*(p))
#define STORE(p, v) (*(p) = (v))
#define SET1(x) (x)
#define ADD(a, b) ((a) + (b))
#define SUB(a, b) ((a) - (b))
#define MUL(a, b) ((a) * (b))
#define DIV(a, b) ((a) / (b))
#include "treeshap_body.h"
#include "treeshap_body_end.h"

/* -- the vector paths: GCC's vector extension, lowered to the target's registers ------- */
/* Aligned like a double, so a block may start at any quadrature node. */
#define VECTOR(n) __attribute__((vector_size((n) * sizeof(double)), aligned(sizeof(double))))
typedef double Vector2 VECTOR(2);
typedef double Vector VECTOR(LANES);
static inline Vector2 v2_set1(double x) { Vector2 v = {x, x}; return v; }

#define KERNEL treeshap_vector
#define TREE treeshap_vector_tree
#define LEAVES treeshap_vector_leaves
#define FUSED treeshap_vector_fused
#define UP treeshap_vector_up
#define MEETS treeshap_meets
#define ATTRIBUTES
#define WIDTH 2 /* the baseline registers: SSE2, NEON */
#define V Vector2
#define LOAD(p) (*(const Vector2 *)(p))
#define STORE(p, v) (*(Vector2 *)(p) = (v))
#define SET1 v2_set1
#include "treeshap_body.h"
#include "treeshap_body_end.h"

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
            const __m128i four =
                half ? _mm256_extracti128_si256(met, 1) : _mm256_castsi256_si128(met);
            const __m256d o =
                _mm256_and_pd(_mm256_castsi256_pd(_mm256_cvtepi32_epi64(four)), one);
            _mm256_storeu_pd(
                om + i + 4 * half,
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
    const __m128i rows =
        _mm_mullo_epi32(_mm_setr_epi32(0, 1, 2, 3), _mm_set1_epi32((int)n_inputs));
    for (int64_t i = 0; i < count; i++) {
        const __m128 input = _mm_i32gather_ps(x + feature[i], rows, 4);
        const __m128i met =
            _mm_castps_si128(_mm_and_ps(_mm_cmpgt_ps(input, _mm_set1_ps(lower[i])),
                                        _mm_cmple_ps(input, _mm_set1_ps(upper[i]))));
        const __m256d o =
            _mm256_and_pd(_mm256_castsi256_pd(_mm256_cvtepi32_epi64(met)), one);
        _mm256_storeu_pd(om + i * LANES,
                         _mm256_sub_pd(_mm256_mul_pd(o, _mm256_set1_pd(value[i])),
                                       _mm256_set1_pd(cover[i])));
    }
}
/* defined here, so that GCC broadcasts with AVX2's instruction */
static inline Vector avx2_set1(double x) { Vector v = {x, x, x, x}; return v; }
#define V Vector
#define LOAD(p) (*(const Vector *)(p))
#define STORE(p, v) (*(Vector *)(p) = (v))
#define SET1 avx2_set1
#define KERNEL treeshap_avx2
#define KERNEL_ROWS treeshap_avx2_rows
#define TREE treeshap_avx2_tree
#define LEAVES treeshap_avx2_leaves
#define FUSED treeshap_avx2_fused
#define UP treeshap_avx2_up
#define TREE_ROWS treeshap_avx2_tree_rows
#define UP_ROWS treeshap_avx2_up_rows
#define FUSED_ROWS treeshap_avx2_fused_rows
#define LEAVES_ROWS treeshap_avx2_leaves_rows
#define ROWS LANES
#define WIDTH LANES
#define MEETS avx2_meets
#define MEETS_ROWS avx2_meets_rows
#define ATTRIBUTES
#include "treeshap_rows_body.h"
#include "treeshap_body.h"
#include "treeshap_body_end.h"
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512f")
/* eight quadrature nodes a block */
typedef double Vector8 VECTOR(8);
static inline Vector8 v8_set1(double x) { Vector8 v = {x, x, x, x, x, x, x, x}; return v; }
/* MEETS for eight rows, as avx2_meets_rows for four. */
static inline void avx512_meets_rows(const float *x, int64_t n_inputs, int64_t count,
                                     const int32_t *feature, const float *lower,
                                     const float *upper, const double *cover,
                                     const double *value, double *om) {
    const __m512i one = _mm512_castpd_si512(_mm512_set1_pd(1.0));
    const __m256i rows = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                            _mm256_set1_epi32((int)n_inputs));
    for (int64_t i = 0; i < count; i++) {
        const __m256 input = _mm256_i32gather_ps(x + feature[i], rows, 4);
        const __m256i met = _mm256_castps_si256(
            _mm256_and_ps(_mm256_cmp_ps(input, _mm256_set1_ps(lower[i]), _CMP_GT_OQ),
                          _mm256_cmp_ps(input, _mm256_set1_ps(upper[i]), _CMP_LE_OQ)));
        const __m512d o =
            _mm512_castsi512_pd(_mm512_and_epi64(_mm512_cvtepi32_epi64(met), one));
        _mm512_storeu_pd(om + i * 8,
                         _mm512_sub_pd(_mm512_mul_pd(o, _mm512_set1_pd(value[i])),
                                       _mm512_set1_pd(cover[i])));
    }
}
#define KERNEL_ROWS treeshap_avx512_rows
#define TREE_ROWS treeshap_avx512_tree_rows
#define LEAVES_ROWS treeshap_avx512_leaves_rows
#define UP_ROWS treeshap_avx512_up_rows
#define FUSED_ROWS treeshap_avx512_fused_rows
#define ROWS 8
#define MEETS_ROWS avx512_meets_rows
#define KERNEL treeshap_avx512
#define TREE treeshap_avx512_tree
#define LEAVES treeshap_avx512_leaves
#define FUSED treeshap_avx512_fused
#define UP treeshap_avx512_up
#define NARROW treeshap_avx2_tree /* same bits, blocks of four */
#define NARROW_WIDTH LANES
#define MEETS avx2_meets
#define ATTRIBUTES
#define WIDTH 8
#define V Vector8
#define LOAD(p) (*(const Vector8 *)(p))
#define STORE(p, v) (*(Vector8 *)(p) = (v))
#define SET1 v8_set1
#include "treeshap_rows_body.h"
#include "treeshap_body.h"
#include "treeshap_body_end.h"
#pragma GCC pop_options
#endif

/* Which paths this CPU can take: bit p set for path p. */
int treeshap_paths(void) {
    int paths = (1 << PATH_SCALAR) | (1 << PATH_VECTOR);
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) paths |= 1 << PATH_AVX2;
    /* (the AVX-512 path also takes AVX2's passes where they pad less) */
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("avx512f"))
        paths |= 1 << PATH_AVX512;
#endif
    return paths;
}

/* The path taken for `path` (PATH_AUTO: the widest the CPU supports), or -1. */
int treeshap_path(int path) {
    const int paths = treeshap_paths();
    if (path == PATH_AUTO)
        return (paths & (1 << PATH_AVX512)) ? PATH_AVX512
               : (paths & (1 << PATH_AVX2)) ? PATH_AVX2
                                            : PATH_VECTOR;
    return (path > 0 && path <= PATH_AVX512 && (paths & (1 << path))) ? path : -1;
}

/* Every path gives every row the same bits, so a call may mix them: with PATH_AUTO,
 * groups of eight rows take AVX-512's eight-row pass, then groups of four AVX2's
 * four-row pass (where the CPU has them), the rest the widest one-row pass; a forced path
 * takes that path's passes only (AVX-512's: one row at a time). */
int treeshap(const float *x, int64_t rows, int64_t n_inputs, const int64_t *tree_start,
             const int32_t *tree_rule, int64_t n_trees, const int32_t *feature,
             const float *lower, const float *upper, const double *cover, const double *value,
             const int32_t *links, const int32_t *targets, const int32_t *runs,
             const int32_t *counts, const double *nodes, const double *weights, int path,
             double *out) {
    int64_t slots = 1, earlier = 1, visited = 1, rule = 1;
    for (int64_t tree = 0; tree < n_trees; tree++) {
        const int32_t *count = counts + tree * COUNTS;
        if (tree_rule[tree] < 1 || tree_rule[tree] > MAX_RULE) return -1;
        if (count[0] + 1 > slots) slots = count[0] + 1;
        if (count[5] + 1 > earlier) earlier = count[5] + 1;
        const int64_t nodes_visited = count[0] + 2 * (count[1] + count[2]) + count[3] +
                                      count[4] +
                                      3 * (count[7] + count[8] + count[9] + count[10]);
        if (nodes_visited > visited) visited = nodes_visited;
        if (tree_rule[tree] > rule) rule = tree_rule[tree];
    }
    const int chosen = treeshap_path(path);
    if (chosen < 0) return -3;
    typedef void (*Pass)(const Model *, const float *, int64_t, int64_t, double *,
                         const Scratch *, double *);
    Pass one_row = chosen == PATH_SCALAR ? treeshap_scalar : treeshap_vector;
    Pass four_rows = NULL, eight_rows = NULL;
#if defined(__x86_64__)
    const int paths = treeshap_paths();
    if (chosen == PATH_AVX2 || chosen == PATH_AVX512) one_row = treeshap_avx2;
    if (chosen == PATH_AVX512) one_row = treeshap_avx512;
    if (chosen == PATH_AVX2 || (path == PATH_AUTO && (paths & (1 << PATH_AVX2))))
        four_rows = treeshap_avx2_rows;
    if (path == PATH_AUTO && (paths & (1 << PATH_AVX512)))
        eight_rows = treeshap_avx512_rows;
#endif
    const int64_t eights = eight_rows != NULL ? rows / 8 * 8 : 0;
    const int64_t fours = four_rows != NULL ? (rows - eights) / 4 * 4 : 0;
    /* per slot and quadrature node (padded to whole blocks of eight, or a row of each of
     * four or eight rows): P and J; per earlier-split slot: u and kappa; each visited
     * node's o v - c; per input, the sums */
    const int64_t lanes = eights > 0 ? 8 : fours > 0 ? 4 : 1;
    int64_t S = treeshap_padded(rule, LANES) * lanes;
    if (treeshap_padded(rule, 8) > S) S = treeshap_padded(rule, 8);
    const Scratch room = {treeshap_padded(slots * 2 * S, 8),
                          treeshap_padded(earlier * 2 * S, 8),
                          treeshap_padded(visited * lanes, 8), treeshap_padded(rule, 8)};
    const int64_t rules = (MAX_RULE + 1) * MAX_RULE;
    /* Every array starts on a cache line, so no block straddles two (malloc aligns to 16
     * bytes only). The quadrature rules are copied there too. */
    double *block = malloc((size_t)(room.cells + room.earlier + room.visited +
                                    n_inputs * room.sums * lanes + 2 * rules + 8) *
                           sizeof(double));
    if (block == NULL) return -2;
    double *scratch = (double *)(((uintptr_t)block + 63) & ~(uintptr_t)63);
    double *rule_nodes = scratch + room.cells + room.earlier + room.visited +
                         treeshap_padded(n_inputs * room.sums * lanes, 8);
    double *rule_weights = rule_nodes + rules;
    memcpy(rule_nodes, nodes, (size_t)rules * sizeof(double));
    memcpy(rule_weights, weights, (size_t)rules * sizeof(double));
    const Model model = {tree_start, tree_rule, n_trees, feature, lower, upper, cover, value,
                         links, targets, runs, counts, rule_nodes, rule_weights};
    if (eights > 0) eight_rows(&model, x, eights, n_inputs, scratch, &room, out);
    if (fours > 0)
        four_rows(&model, x + eights * n_inputs, fours, n_inputs, scratch, &room,
                  out + eights * n_inputs);
    const int64_t grouped = eights + fours;
    one_row(&model, x + grouped * n_inputs, rows - grouped, n_inputs, scratch, &room,
            out + grouped * n_inputs);
    free(block);
    return 0;
}
