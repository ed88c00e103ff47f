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
 *   nodes, weights              (MAX_RULE + 1) x MAX_RULE: Gauss-Legendre on [0, 1]
 *   out        rows x n_inputs  float64, overwritten with each input's contribution
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RULE 32

int treeshap_max_rule(void) { return MAX_RULE; }

int treeshap(const float *x, int64_t rows, int64_t n_inputs, const int64_t *tree_start,
             const int32_t *tree_rule, int64_t n_trees, const int32_t *parent,
             const int32_t *previous, const int32_t *feature, const double *lower,
             const double *upper, const double *cover, const double *value,
             const double *nodes, const double *weights, double *out) {
    int64_t widest = 0;
    for (int64_t tree = 0; tree < n_trees; tree++) {
        const int64_t size = tree_start[tree + 1] - tree_start[tree];
        if (size > widest) widest = size;
        if (tree_rule[tree] < 1 || tree_rule[tree] > MAX_RULE) return -1;
    }
    /* per node and quadrature node (stride: the tree's rule): the product P, 1 / f, the sums H and their corrections R */
    const size_t cells = (size_t)widest * MAX_RULE;
    double *scratch = malloc(4 * cells * sizeof(double));
    double *o_minus_z = malloc((size_t)(widest > 0 ? widest : 1) * sizeof(double));
    if (scratch == NULL || o_minus_z == NULL) {
        free(scratch);
        free(o_minus_z);
        return -2;
    }
    double *P = scratch, *inverse = scratch + cells, *H = scratch + 2 * cells;
    double *R = scratch + 3 * cells;
    memset(out, 0, (size_t)(rows * n_inputs) * sizeof(double));

    for (int64_t r = 0; r < rows; r++) {
        const float *row = x + r * n_inputs;
        double *phi = out + r * n_inputs;
        for (int64_t tree = 0; tree < n_trees; tree++) {
            const int64_t base = tree_start[tree];
            const int64_t size = tree_start[tree + 1] - base;
            if (size < 2) continue; /* a single leaf explains nothing */
            const int64_t N = tree_rule[tree];
            const double *t = nodes + N * MAX_RULE;
            const double *w = weights + N * MAX_RULE;
            memset(H, 0, (size_t)size * N * sizeof(double));
            memset(R, 0, (size_t)size * N * sizeof(double));
            for (int64_t n = 0; n < N; n++) P[n] = 1.0;
            /* down: products of the factors along each path */
            for (int64_t c = 1; c < size; c++) {
                const int64_t g = base + c;
                const double input = (double)row[feature[g]];
                const double z = cover[g];
                const double o = (input > lower[g] && input <= upper[g]) ? 1.0 : 0.0;
                const double *above = P + (int64_t)parent[g] * N;
                double *here = P + c * N, *inv = inverse + c * N;
                o_minus_z[c] = o - z;
                if (previous[g] >= 0) {
                    const double *undo = inverse + (int64_t)previous[g] * N;
                    for (int64_t n = 0; n < N; n++) {
                        const double f = z + (o - z) * t[n];
                        inv[n] = 1.0 / f;
                        here[n] = above[n] * f * undo[n];
                    }
                } else {
                    for (int64_t n = 0; n < N; n++) {
                        const double f = z + (o - z) * t[n];
                        inv[n] = 1.0 / f;
                        here[n] = above[n] * f;
                    }
                }
            }
            /* up: leaf sums, each edge's share, then hand the sums to parent and previous */
            for (int64_t c = size - 1; c >= 1; c--) {
                const int64_t g = base + c;
                double *h = H + c * N;
                const double *correction = R + c * N, *inv = inverse + c * N;
                if (value[g] != 0.0) {
                    const double *here = P + c * N;
                    for (int64_t n = 0; n < N; n++) h[n] = value[g] * w[n] * here[n];
                }
                double integral = 0.0;
                for (int64_t n = 0; n < N; n++) integral += (h[n] - correction[n]) * inv[n];
                phi[feature[g]] += o_minus_z[c] * integral;
                double *up = H + (int64_t)parent[g] * N;
                for (int64_t n = 0; n < N; n++) up[n] += h[n];
                if (previous[g] >= 0) {
                    double *earlier = R + (int64_t)previous[g] * N;
                    for (int64_t n = 0; n < N; n++) earlier[n] += h[n];
                }
            }
        }
    }
    free(scratch);
    free(o_minus_z);
    return 0;
}
