"""Exact path-dependent TreeSHAP contributions at serve time, from plain arrays.

Training flattens the forest into its nodes (`train.explainer_export`) and saves them as
an `.npz` of numeric arrays, read here with `allow_pickle=False`: no pickle, no
scikit-learn, no numba. The arithmetic runs in a small C kernel (`treeshap.c`, built by
`make` into `_treeshap.so` and called through ctypes, which releases the GIL), because an
exact TreeSHAP costs millions of multiply-adds per row, which numpy would spend in
temporaries: see the kernel's header for the method. Loading a version lays the nodes out
once as the kernel visits them (`treeshap_prepare`, 36 bytes a node and a little more, 3.9
MB for the default model); the artifact's own arrays are not kept.

The kernel has several paths (`PATHS`: scalar, the baseline vector registers, AVX2,
AVX-512) and takes the widest the CPU supports; all give the same bits, and `path` forces
one.

A row's contributions never depend on the other rows of a call, so large calls are cut
into slices computed at the same time, with the same bits as one row at a time.
"""

import ctypes
import io
import math
import os
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Final

import numpy as np

from model_store.errors import ModelStoreError
from model_store.quadrature import RULES

KERNEL_SOURCE: Final = Path(__file__).with_name("treeshap.c")
KERNEL_LIBRARY: Final = Path(__file__).with_name("_treeshap.so")
INDEX_ARRAYS: Final = ("parent", "previous", "feature")
FLOAT_ARRAYS: Final = ("lower", "upper", "cover", "value")
ARRAYS: Final = ("tree_start", "tree_rule", *INDEX_ARRAYS, *FLOAT_ARRAYS, "base")
MAX_RULE: Final = 32  # as in treeshap.c
LANES: Final = 4  # as in treeshap.c
COUNTS: Final = 11  # as in treeshap.c: per tree, runs of nodes, earlier splits, runs up
RUN_TARGETS, RUN_UP = 5, 6  # as in treeshap.c: a tree's earlier splits, runs of the way up
ABI: Final = 10  # treeshap.c's treeshap_abi(): its functions' arguments
PATHS: Final = {"auto": 0, "scalar": 1, "vector": 2, "avx2": 3, "avx512": 4}  # as in treeshap.c
PARALLEL_FROM_ROWS: Final = 8  # a row costs milliseconds: worth a thread hand-off

_float = np.ctypeslib.ndpointer(np.float64, flags="C_CONTIGUOUS")
_float32 = np.ctypeslib.ndpointer(np.float32, flags="C_CONTIGUOUS")
_int64 = np.ctypeslib.ndpointer(np.int64, flags="C_CONTIGUOUS")
_int32 = np.ctypeslib.ndpointer(np.int32, flags="C_CONTIGUOUS")


class ExplainerError(ModelStoreError):
    """The explainer artifact or its kernel cannot be used."""


@cache
def _kernel() -> ctypes.CDLL:
    if not KERNEL_LIBRARY.is_file():
        raise ExplainerError(
            f"{KERNEL_LIBRARY.name} is not built; `make` builds it from {KERNEL_SOURCE.name} "
            "(any C compiler: `cc -O2 -ffp-contract=off -shared -fPIC`)"
        )
    library = ctypes.CDLL(str(KERNEL_LIBRARY))
    if not hasattr(library, "treeshap_abi") or (
        library.treeshap_abi(),
        library.treeshap_max_rule(),
        library.treeshap_lanes(),
        library.treeshap_counts(),
    ) != (ABI, MAX_RULE, LANES, COUNTS):
        raise ExplainerError(f"{KERNEL_LIBRARY.name} is stale; rebuild it with `make`")
    # Addresses, not checked arrays: numpy's per-argument checks cost 40 us a call, which
    # TreeExplainer makes once per model (the model's arrays) or per call (x and out).
    library.treeshap.restype = ctypes.c_int
    library.treeshap.argtypes = [
        ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,  # x, rows, inputs
        ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,  # tree starts, rules, trees
        *[ctypes.c_void_p] * 5,  # the nodes: feature, bounds, cover, value
        *[ctypes.c_void_p] * 4,  # links (slots), targets (earlier splits), runs up, counts
        ctypes.c_void_p, ctypes.c_void_p,  # quadrature nodes, weights
        ctypes.c_int, ctypes.c_void_p,  # path, out
    ]  # fmt: skip
    library.treeshap_prepare.restype = ctypes.c_int
    library.treeshap_prepare.argtypes = [
        _int64, _int32, ctypes.c_int64,  # tree starts, rules, trees
        _int32, _int32, _int32,  # parent, previous, feature
        _float, _float, _float, _float,  # lower, upper, cover, value
        _int32, _float32, _float32, _float, _float,  # out: the nodes as visited
        _int32, _int32, _int32, _int32,  # out: links, targets, runs up, counts
    ]  # fmt: skip
    library.treeshap_path.restype = ctypes.c_int
    library.treeshap_path.argtypes = [ctypes.c_int]
    return library


def available_paths() -> list[str]:
    """The kernel paths this CPU can take (each gives the same bits)."""
    kernel = _kernel()
    return [name for name, code in PATHS.items() if code and kernel.treeshap_path(code) == code]


@cache
def _quadrature() -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [0, 1]; row n holds the n-point rule. From the
    committed literals (model_store.quadrature), so every machine has the same bits."""
    nodes = np.zeros((MAX_RULE + 1, MAX_RULE))
    weights = np.zeros((MAX_RULE + 1, MAX_RULE))
    for n, (rule_nodes, rule_weights) in enumerate(RULES, start=1):
        nodes[n, :n] = [float.fromhex(v) for v in rule_nodes]
        weights[n, :n] = [float.fromhex(v) for v in rule_weights]
    return nodes, weights


def explainer_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """The artifact: the arrays in an uncompressed `.npz` (numbers only, no pickle)."""
    missing = set(ARRAYS) - set(arrays)
    if missing:
        raise ExplainerError(f"explainer arrays missing: {sorted(missing)}")
    buffer = io.BytesIO()
    np.savez(buffer, **{name: arrays[name] for name in ARRAYS})
    return buffer.getvalue()


class TreeExplainer:
    """Each model input's exact TreeSHAP contribution to the probability of default.

    `base` (the forest's expected value) plus a row's contributions equals the forest's
    probability for that row, to float64 rounding.
    """

    def __init__(self, data: bytes, n_inputs: int, threads: int = 0, path: str = "auto") -> None:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            if set(archive.files) != set(ARRAYS):
                raise ExplainerError(f"explainer arrays {sorted(archive.files)}, want {ARRAYS}")
            self.tree_start = np.ascontiguousarray(archive["tree_start"], np.int64)
            self.tree_rule = np.ascontiguousarray(archive["tree_rule"], np.int32)
            index = {k: np.ascontiguousarray(archive[k], np.int32) for k in INDEX_ARRAYS}
            floats = {k: np.ascontiguousarray(archive[k], np.float64) for k in FLOAT_ARRAYS}
            self.base = float(archive["base"])
        self.n_inputs = n_inputs
        self._check(index, floats)
        self.kernel = _kernel()
        self.nodes, self.weights = _quadrature()
        if path not in PATHS or self.kernel.treeshap_path(PATHS[path]) < 0:
            raise ExplainerError(
                f"TreeSHAP path {path!r} is not available here: {available_paths()}"
            )
        self.path = PATHS[path]
        # The nodes as the kernel visits them (treeshap_prepare), 36 bytes a node, and 4
        # bytes for each earlier split and run of the way up; the artifact's arrays are
        # not kept.
        trees, size = len(self.tree_rule), int(self.tree_start[-1])
        self.model = {
            "feature": np.zeros(size, np.int32),
            "lower": np.zeros(size, np.float32),
            "upper": np.zeros(size, np.float32),
            "cover": np.zeros(size, np.float64),
            "value": np.zeros(size, np.float64),
            "links": np.zeros((size, 2), np.int32),
            "targets": np.zeros(size, np.int32),
            "runs": np.zeros(size + trees, np.int32),
            "counts": np.zeros((trees, COUNTS), np.int32),
        }
        status = self.kernel.treeshap_prepare(
            self.tree_start, self.tree_rule, trees,
            *(index[k] for k in INDEX_ARRAYS), *(floats[k] for k in FLOAT_ARRAYS),
            *self.model.values(),
        )  # fmt: skip
        if status != 0:
            raise ExplainerError(f"the TreeSHAP kernel refused the explainer (status {status})")
        # per tree, one after another: its earlier splits and the runs of its way up
        counts = self.model["counts"].sum(axis=0)
        for name, used in (("targets", counts[RUN_TARGETS]), ("runs", counts[RUN_UP])):
            self.model[name] = self.model[name][:used].copy()
        m = self.model
        arrays = (
            self.tree_start, self.tree_rule, len(self.tree_rule),
            m["feature"], m["lower"], m["upper"], m["cover"], m["value"],
            m["links"], m["targets"], m["runs"], m["counts"], self.nodes, self.weights,
        )  # fmt: skip
        if not all(a.flags.c_contiguous for a in arrays if isinstance(a, np.ndarray)):
            raise ExplainerError("the explainer's arrays are not laid out as the kernel reads")
        # their addresses, passed as they are (the arrays live as long as the explainer)
        self._arguments = tuple(a.ctypes.data if isinstance(a, np.ndarray) else a for a in arrays)
        self.threads = threads or os.cpu_count() or 1
        self._pool = (
            ThreadPoolExecutor(self.threads, thread_name_prefix="explaining")
            if self.threads > 1
            else None
        )

    def _check(self, index: dict[str, np.ndarray], floats: dict[str, np.ndarray]) -> None:
        """Refuse arrays the kernel would read out of bounds (it trusts its input)."""
        sizes = {len(a) for a in (*index.values(), *floats.values())}
        starts, trees = self.tree_start, len(self.tree_rule)
        if (
            len(sizes) != 1
            or len(starts) != trees + 1
            or starts[0] != 0
            or starts[-1] != sizes.pop()
            or np.any(np.diff(starts) < 1)
            or np.any((self.tree_rule < 1) | (self.tree_rule > MAX_RULE))
        ):
            raise ExplainerError("explainer arrays are inconsistent")
        local = np.arange(starts[-1]) - np.repeat(starts[:-1], np.diff(starts))
        parent, previous = index["parent"], index["previous"]
        roots = local == 0
        if (
            np.any(parent[roots] != -1)
            or np.any((parent[~roots] < 0) | (parent[~roots] >= local[~roots]))
            or np.any((previous >= local) | (previous < -1))
        ):
            raise ExplainerError("explainer nodes are not in pre-order")
        feature = index["feature"]
        if feature.size and (feature.min() < 0 or feature.max() >= self.n_inputs):
            raise ExplainerError("explainer refers to inputs the model does not have")
        cover = floats["cover"]
        if np.any(cover <= 0) or np.any(cover > 1):
            raise ExplainerError("explainer covers must lie in (0, 1]")

    def _run(self, X: np.ndarray) -> np.ndarray:
        """X: C-contiguous float32, rows x n_inputs (checked by `contributions`)."""
        out = np.empty((len(X), self.n_inputs), dtype=np.float64)
        status = self.kernel.treeshap(
            X.ctypes.data, len(X), self.n_inputs, *self._arguments, self.path, out.ctypes.data
        )
        if status != 0:
            raise ExplainerError(f"the TreeSHAP kernel refused the explainer (status {status})")
        return out

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """rows x inputs contributions for float32 model inputs (what the trees compare)."""
        X = np.ascontiguousarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.n_inputs:
            raise ExplainerError(f"expected rows x {self.n_inputs} model inputs, got {X.shape}")
        if self._pool is None or len(X) < PARALLEL_FROM_ROWS:
            return self._run(X)
        size = math.ceil(len(X) / self.threads)
        slices = [X[start : start + size] for start in range(0, len(X), size)]
        return np.concatenate(list(self._pool.map(self._run, slices)))
