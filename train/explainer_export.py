"""Flattening a fitted forest into the explainer artifact: its nodes as plain arrays.

Per node, in pre-order, tree after tree: its parent, the feature split on its incoming
edge, the interval of that feature that every split on it from the root admits, the
product of those splits' cover ratios, the nearest ancestor reached by a split on the
same feature, and (for leaves) the probability of default divided by the number of trees.
That is all path-dependent TreeSHAP needs (`model_store/treeshap.c`); the service reads
these arrays and never the forest.

Covers are scikit-learn's `weighted_n_node_samples`, as in shap's reading of a forest.
Bounds are compared as scikit-learn compares: a float32 input, widened to float64,
against the float64 threshold (`x <= threshold` goes left).
"""

from dataclasses import dataclass

import numpy as np
from sklearn.ensemble import RandomForestClassifier


@dataclass(frozen=True)
class _Edge:
    """What the path to a node knows about one feature."""

    lower: float
    upper: float
    cover: float
    position: int  # the node (in the tree's pre-order) reached by the last split on it


_NO_EDGE = _Edge(-np.inf, np.inf, 1.0, -1)
_NODE_COLUMNS = ("parent", "previous", "feature", "lower", "upper", "cover", "value")


def _tree_nodes(tree, scale: float, out: dict[str, list]) -> tuple[float, int]:
    """Append one tree's nodes to `out`; return its expected value and quadrature rule."""
    left, right = tree.children_left, tree.children_right
    cover = tree.weighted_n_node_samples
    values = tree.value[:, 0, :]
    probability = values[:, 1] / values.sum(axis=1)
    expected, widest = 0.0, 0
    # (node, parent's position, feature of the incoming edge, the edges above, this edge)
    stack: list[tuple[int, int, int, dict[int, _Edge], _Edge]] = [(0, -1, -1, {}, _NO_EDGE)]
    position = 0
    while stack:
        node, parent, feature, above, edge = stack.pop()
        edges = above
        if feature >= 0:
            edges = {**above, feature: _Edge(edge.lower, edge.upper, edge.cover, position)}
        leaf = left[node] == -1
        out["parent"].append(parent)
        out["previous"].append(above.get(feature, _NO_EDGE).position)
        out["feature"].append(max(feature, 0))
        out["lower"].append(edge.lower)
        out["upper"].append(edge.upper)
        out["cover"].append(edge.cover)
        out["value"].append(probability[node] * scale if leaf else 0.0)
        here, position = position, position + 1
        if leaf:
            expected += cover[node] / cover[0] * probability[node] * scale
            widest = max(widest, len(edges))
            continue
        split, threshold = int(tree.feature[node]), float(tree.threshold[node])
        known = edges.get(split, _NO_EDGE)
        for child, lower, upper in (
            (right[node], max(known.lower, threshold), known.upper),
            (left[node], known.lower, min(known.upper, threshold)),
        ):
            child_edge = _Edge(lower, upper, known.cover * cover[child] / cover[node], -1)
            stack.append((child, here, split, edges, child_edge))
    return expected, max(1, (widest + 1) // 2)


def forest_explainer_arrays(forest: RandomForestClassifier) -> dict[str, np.ndarray]:
    """The explainer arrays of a fitted binary random forest (see `model_store.explainer`)."""
    if list(forest.classes_) != [0, 1]:
        raise ValueError(f"expected a binary forest over classes [0, 1], got {forest.classes_}")
    out: dict[str, list] = {key: [] for key in _NODE_COLUMNS}
    scale = 1.0 / len(forest.estimators_)
    starts, rules, base = [0], [], 0.0
    for estimator in forest.estimators_:
        expected, rule = _tree_nodes(estimator.tree_, scale, out)
        base += expected
        rules.append(rule)
        starts.append(len(out["parent"]))
    return {
        "tree_start": np.asarray(starts, dtype=np.int64),
        "tree_rule": np.asarray(rules, dtype=np.int32),
        **{key: np.asarray(out[key], dtype=np.int32) for key in ("parent", "previous", "feature")},
        **{key: np.asarray(out[key], dtype=np.float64) for key in ("lower", "upper", "cover")},
        "value": np.asarray(out["value"], dtype=np.float64),
        "base": np.asarray(base, dtype=np.float64),
    }
