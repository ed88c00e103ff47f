"""Compiling a fitted pipeline to ONNX, for onnxruntime to score at serve time.

Why ONNX and onnxruntime: measured on this machine kind, a 300-tree forest scores one row
in about 0.02-0.05 ms with onnxruntime against about 12.5 ms with scikit-learn, with the
same probabilities; onnxruntime ships as wheels on PyPI and needs no compiler at serve
time (treelite/tl2cgen took from one to ten minutes of gcc per model and its batch path
was slower than scikit-learn's).

The two project transformers get ONNX converters here. They compute in float64, exactly
as the numpy code does, and cast to float32 only where scikit-learn's trees do (trees
compare float32 features against their thresholds), so the compiled graph makes the same
split decisions as the joblib pipeline. `verify` checks that on real rows before a
version is saved.
"""

from typing import Final

import numpy as np
from onnx import TensorProto, compose, helper
from skl2onnx import to_onnx, update_registered_converter
from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType
from sklearn.pipeline import Pipeline

from schemas.compiled import INPUT_NAME, default_probability, open_session
from schemas.features import FEATURE_NAMES
from schemas.transformers import (
    BILL_COLUMNS,
    COLUMN,
    PAYMENT_COLUMNS,
    REPAYMENT_STATUS_COLUMNS,
    CategoryCleaner,
    FeatureEngineer,
)

TARGET_OPSET: Final = {"": 17, "ai.onnx.ml": 3}
MAX_ABS_DIFFERENCE: Final = 1e-6
ENGINEERED: Final = "engineered"


class CompiledModelMismatchError(Exception):
    """The compiled graph disagrees with the pipeline it was compiled from."""


class _GraphBuilder:
    """Thin helper over skl2onnx's scope/container: one method per ONNX node."""

    def __init__(self, scope, container) -> None:
        self.scope = scope
        self.container = container

    def name(self, hint: str) -> str:
        return self.scope.get_unique_variable_name(hint)

    def const(
        self, values: list[float] | list[int], dtype: int, shape: list[int] | None = None
    ) -> str:
        name = self.name("const")
        self.container.add_initializer(
            name, dtype, shape if shape is not None else [len(values)], values
        )
        return name

    def scalar(self, value: float) -> str:
        return self.const([value], TensorProto.DOUBLE, [])

    def node(
        self, op: str, inputs: list[str], output: str | None = None, **attributes: object
    ) -> str:
        output = output or self.name(op.lower())
        self.container.add_node(
            op, inputs, [output], name=self.scope.get_unique_operator_name(op), **attributes
        )
        return output

    def columns(self, X: str, indices: list[int]) -> str:
        return self.node("Gather", [X, self.const(indices, TensorProto.INT64)], axis=1)

    def count(self, condition: str) -> str:
        as_double = self.node("Cast", [condition], to=TensorProto.DOUBLE)
        return self.node("ReduceSum", [as_double, self.const([1], TensorProto.INT64)], keepdims=1)


def _matrix_shape(operator, width: int, element_type: type) -> None:
    rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = element_type([rows, width])


def _cleaner_shape(operator) -> None:
    _matrix_shape(operator, len(FEATURE_NAMES), DoubleTensorType)


def _cleaner_converter(scope, operator, container) -> None:
    g = _GraphBuilder(scope, container)
    X = operator.inputs[0].full_name

    def fold(column: str, unknown_codes: tuple[int, ...], others: int) -> str:
        values = g.columns(X, [COLUMN[column]])
        unknown = None
        for code in unknown_codes:
            hit = g.node("Equal", [values, g.scalar(float(code))])
            unknown = hit if unknown is None else g.node("Or", [unknown, hit])
        return g.node("Where", [unknown, g.scalar(float(others)), values])

    cleaner = CategoryCleaner
    education = fold("education", cleaner.EDUCATION_UNKNOWN, cleaner.EDUCATION_OTHERS)
    marriage = fold("marriage", cleaner.MARRIAGE_UNKNOWN, cleaner.MARRIAGE_OTHERS)
    before = g.columns(X, list(range(COLUMN["education"])))
    after = g.columns(X, list(range(COLUMN["marriage"] + 1, len(FEATURE_NAMES))))
    g.node("Concat", [before, education, marriage, after], operator.outputs[0].full_name, axis=1)


def _engineer_shape(operator) -> None:
    width = len(operator.raw_operator.get_feature_names_out())
    # float32 out: what the forest consumes (scikit-learn casts to float32 at the trees).
    _matrix_shape(operator, width, FloatTensorType)


def _engineer_converter(scope, operator, container) -> None:
    g = _GraphBuilder(scope, container)
    X = operator.inputs[0].full_name
    limit = g.columns(X, [COLUMN["limit_bal"]])
    status = g.columns(X, REPAYMENT_STATUS_COLUMNS)
    bills = g.columns(X, BILL_COLUMNS)
    payments = g.columns(X, PAYMENT_COLUMNS)
    utilisation = g.node("Div", [bills, limit])
    blocks = [X]
    for group in operator.raw_operator.groups:
        if group == "utilisation":
            blocks.append(utilisation)
        elif group == "payment_ratio":
            previous_bill = g.columns(bills, [1, 2, 3, 4, 5])
            paid = g.columns(payments, [0, 1, 2, 3, 4])
            owed = g.node("Greater", [previous_bill, g.scalar(0.0)])
            ratio = g.node("Div", [paid, previous_bill])
            blocks.append(g.node("Where", [owed, ratio, g.scalar(1.0)]))
        elif group == "delinquency":
            late = g.count(g.node("GreaterOrEqual", [status, g.scalar(1.0)]))
            duly = g.count(g.node("LessOrEqual", [status, g.scalar(-1.0)]))
            worst = g.node("ReduceMax", [status], axes=[1], keepdims=1)
            blocks += [late, duly, worst]
        elif group == "trend":
            first, last = g.columns(status, [0]), g.columns(status, [5])
            blocks.append(g.node("Sub", [first, last]))
            first, last = g.columns(utilisation, [0]), g.columns(utilisation, [5])
            blocks.append(g.node("Sub", [first, last]))
        else:
            raise ValueError(f"no ONNX converter for feature group {group!r}")
    joined = g.node("Concat", blocks, axis=1)
    g.node("Cast", [joined], operator.outputs[0].full_name, to=TensorProto.FLOAT)


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
    model.doc_string = "credit-default pipeline: float64 features in FEATURE_NAMES order"
    helper.set_model_props(model, {"feature_names": ",".join(FEATURE_NAMES)})
    return model.SerializeToString()


def verify(pipeline: Pipeline, model: bytes, X: np.ndarray) -> float:
    """Max |compiled - joblib| probability over the rows of X; raises above the tolerance."""
    reference = pipeline.predict_proba(X)[:, 1]
    compiled = default_probability(open_session(model), X)
    difference = float(np.max(np.abs(compiled - reference)))
    if not difference <= MAX_ABS_DIFFERENCE:
        raise CompiledModelMismatchError(
            f"the compiled model differs from the pipeline by up to {difference:.3g} "
            f"(tolerance {MAX_ABS_DIFFERENCE:g}) over {len(X)} rows; not saving this version"
        )
    return difference
