"""Compiling a fitted pipeline to ONNX, for onnxruntime to score at serve time.

Why ONNX and onnxruntime: measured on this machine kind, a 300-tree forest scores one row
in about 0.02-0.05 ms with onnxruntime against about 12.5 ms with scikit-learn, with the
same probabilities; onnxruntime ships as wheels on PyPI and needs no compiler at serve
time (treelite/tl2cgen took from one to ten minutes of gcc per model and its batch path
was slower than scikit-learn's).

The two project transformers get ONNX converters here, built from the very formulas
their numpy transforms run (`train.transformers`), emitted in float64 and cast to float32
only where scikit-learn's trees do (trees compare float32 features against their
thresholds), so the compiled graph makes the same split decisions as the joblib pipeline.
`verify` checks that on real rows before a version is saved.
"""

import tempfile
from pathlib import Path
from typing import Final

import numpy as np
import onnxruntime
from onnx import TensorProto, compose, helper
from skl2onnx import to_onnx, update_registered_converter
from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType
from sklearn.pipeline import Pipeline

from model_store.runtime import INPUT_NAME, CompiledModel
from model_store.runtime import MODEL_INPUTS as ENGINEERED
from model_store.store import ORT_FILE
from schemas.features import FEATURE_NAMES
from train.transformers import (
    CategoryCleaner,
    FeatureEngineer,
    clean_categories,
    engineer_features,
)

TARGET_OPSET: Final = {"": 17, "ai.onnx.ml": 3}
MAX_ABS_DIFFERENCE: Final = 1e-6


class CompiledModelMismatchError(Exception):
    """The compiled graph disagrees with the pipeline it was compiled from."""


class OnnxOps:
    """`ArrayOps` (train.transformers) emitted as ONNX nodes through skl2onnx's scope and
    container: the formulas written once for numpy become graph nodes here, in float64."""

    def __init__(self, scope, container) -> None:
        self.scope = scope
        self.container = container

    def _name(self, hint: str) -> str:
        return self.scope.get_unique_variable_name(hint)

    def _const(self, values: list[float] | list[int], dtype: int, shape: list[int]) -> str:
        name = self._name("const")
        self.container.add_initializer(name, dtype, shape, values)
        return name

    def _scalar(self, value: float) -> str:
        return self._const([float(value)], TensorProto.DOUBLE, [])

    def _operand(self, value: str | float) -> str:
        return value if isinstance(value, str) else self._scalar(value)

    def node(self, op: str, inputs: list[str], output: str | None = None, **attributes) -> str:
        output = output or self._name(op.lower())
        self.container.add_node(
            op, inputs, [output], name=self.scope.get_unique_operator_name(op), **attributes
        )
        return output

    def columns(self, X: str, indices: list[int]) -> str:
        positions = self._const(list(indices), TensorProto.INT64, [len(indices)])
        return self.node("Gather", [X, positions], axis=1)

    def div(self, a: str, b: str) -> str:
        return self.node("Div", [a, b])

    def sub(self, a: str, b: str) -> str:
        return self.node("Sub", [a, b])

    def greater(self, a: str, value: float) -> str:
        return self.node("Greater", [a, self._scalar(value)])

    def at_least(self, a: str, value: float) -> str:
        return self.node("GreaterOrEqual", [a, self._scalar(value)])

    def at_most(self, a: str, value: float) -> str:
        return self.node("LessOrEqual", [a, self._scalar(value)])

    def is_one_of(self, a: str, values: tuple[float, ...]) -> str:
        hits = [self.node("Equal", [a, self._scalar(value)]) for value in values]
        mask = hits[0]
        for hit in hits[1:]:
            mask = self.node("Or", [mask, hit])
        return mask

    def where(self, mask: str, a: str | float, b: str | float) -> str:
        return self.node("Where", [mask, self._operand(a), self._operand(b)])

    def count(self, mask: str) -> str:
        as_double = self.node("Cast", [mask], to=TensorProto.DOUBLE)
        axis = self._const([1], TensorProto.INT64, [1])
        return self.node("ReduceSum", [as_double, axis], keepdims=1)

    def row_max(self, a: str) -> str:
        return self.node("ReduceMax", [a], axes=[1], keepdims=1)

    def concat(self, blocks: list[str]) -> str:
        return self.node("Concat", blocks, axis=1)


def _matrix_shape(operator, width: int, element_type: type) -> None:
    rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = element_type([rows, width])


def _cleaner_shape(operator) -> None:
    _matrix_shape(operator, len(FEATURE_NAMES), DoubleTensorType)


def _cleaner_converter(scope, operator, container) -> None:
    ops = OnnxOps(scope, container)
    cleaned = clean_categories(ops, operator.inputs[0].full_name)
    ops.node("Identity", [cleaned], operator.outputs[0].full_name)


def _engineer_shape(operator) -> None:
    width = len(operator.raw_operator.get_feature_names_out())
    # float32 out: what the forest consumes (scikit-learn casts to float32 at the trees).
    _matrix_shape(operator, width, FloatTensorType)


def _engineer_converter(scope, operator, container) -> None:
    ops = OnnxOps(scope, container)
    transformer = operator.raw_operator
    joined = engineer_features(
        ops, operator.inputs[0].full_name, tuple(transformer.groups), tuple(transformer.excluded)
    )
    ops.node("Cast", [joined], operator.outputs[0].full_name, to=TensorProto.FLOAT)


update_registered_converter(
    CategoryCleaner, "CreditDefaultCategoryCleaner", _cleaner_shape, _cleaner_converter
)
update_registered_converter(
    FeatureEngineer, "CreditDefaultFeatureEngineer", _engineer_shape, _engineer_converter
)


def compile_pipeline(pipeline: Pipeline) -> bytes:
    """The whole pipeline (cleaning, features, forest, calibration) as ONNX bytes.

    Converted in two parts joined at the float32 feature matrix: skl2onnx types a
    calibrator's outputs after the graph's float64 input, while the trees compute in
    float32, and the two disagree if the whole pipeline is converted at once.
    """
    transformers, classifier = Pipeline(pipeline.steps[:-1]), pipeline.steps[-1][1]
    width = len(transformers.get_feature_names_out())
    features = to_onnx(
        transformers,
        initial_types=[(INPUT_NAME, DoubleTensorType([None, len(FEATURE_NAMES)]))],
        final_types=[(ENGINEERED, FloatTensorType([None, width]))],
        target_opset=TARGET_OPSET,
    )
    scorer = to_onnx(
        classifier,
        initial_types=[(ENGINEERED, FloatTensorType([None, width]))],
        target_opset=TARGET_OPSET,
        options={id(classifier): {"zipmap": False}},
    )
    for part in (features, scorer):  # one opset declaration for both halves
        del part.opset_import[:]
        part.opset_import.extend(
            helper.make_opsetid(domain, version) for domain, version in TARGET_OPSET.items()
        )
        part.ir_version = max(features.ir_version, scorer.ir_version)
    # Keep the scorer's internal names apart from the feature graph's.
    scorer = compose.add_prefix(scorer, "scorer_", rename_inputs=False, rename_outputs=False)
    model = compose.merge_models(features, scorer, io_map=[(ENGINEERED, ENGINEERED)])
    # The model inputs as the trees compare them are an output too: the explainer needs
    # exactly these, and computing them anywhere else would be a second copy of the formulas.
    model.graph.output.append(
        helper.make_tensor_value_info(ENGINEERED, TensorProto.FLOAT, [None, width])
    )
    model.doc_string = "credit-default pipeline: float64 features in FEATURE_NAMES order"
    helper.set_model_props(model, {"feature_names": ",".join(FEATURE_NAMES)})
    return model.SerializeToString()


def to_ort_format(model: bytes) -> bytes:
    """The compiled graph saved by onnxruntime in its own format, unoptimised: the same
    operators, weights and outputs (the service's session applies its optimisations at
    load, as it does to the ONNX)."""
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.add_session_config_entry("session.save_model_format", "ORT")
    with tempfile.TemporaryDirectory(prefix="credit-default-ort-") as directory:
        options.optimized_model_filepath = str(Path(directory) / ORT_FILE)
        onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        return Path(options.optimized_model_filepath).read_bytes()


def check_same_outputs(model: bytes, converted: bytes, X: np.ndarray) -> None:
    """Refuse `converted` unless every output (probabilities and the model inputs the
    explainer reads) has the same bits as `model`'s over the rows of X."""
    ours, theirs = (CompiledModel(m, threads=1).predict_with_inputs(X) for m in (model, converted))
    if any(a.tobytes() != b.tobytes() for a, b in zip(ours, theirs, strict=True)):
        raise CompiledModelMismatchError(
            "onnxruntime's own format of the compiled model scores differently from the ONNX; "
            "not saving this version"
        )


def verify(pipeline: Pipeline, model: bytes, X: np.ndarray) -> float:
    """Max |compiled - joblib| probability over the rows of X; raises above the tolerance."""
    reference = pipeline.predict_proba(X)[:, 1]
    compiled = CompiledModel(model, threads=1).predict_proba(X)
    difference = float(np.max(np.abs(compiled - reference)))
    if not difference <= MAX_ABS_DIFFERENCE:
        raise CompiledModelMismatchError(
            f"the compiled model differs from the pipeline by up to {difference:.3g} "
            f"(tolerance {MAX_ABS_DIFFERENCE:g}) over {len(X)} rows; not saving this version"
        )
    return difference
