"""Values and reports as plain data: ints, exact fractions as 'p/q', formulas as text.

What `Report.to_dict()` returns and `convcalc shapes -f json` writes. It imports neither
`render` nor anything that imports `analysis`, so that the analysis can ask it for its
report's data without an import cycle.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING

from convcalc import dims

if TYPE_CHECKING:
    from convcalc.analysis import Report, Row, Totals


def is_formula(value: object) -> bool:
    """True for a figure that is a formula in the input's size symbols (asked of dims,
    which knows formulas without importing sympy)."""
    return dims.is_formula(value)


def formula(value: object) -> str:
    """A formula as text: floor((H - 1)/2) + 1 (convcalc.symbolic's printer)."""
    from convcalc import symbolic

    return symbolic.formula(value)


def exact(value: Fraction | int) -> int | str:
    """An int when whole, else the exact fraction as 'p/q' (JSON and CSV); a formula as text."""
    if is_formula(value):
        return formula(value)
    value = Fraction(value)
    return value.numerator if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def exact_list(values: tuple | None) -> list | None:
    """A per-dim figure for JSON: ints, 'p/q' fractions or formula strings; None stays."""
    return None if values is None else [exact(value) for value in values]


def figure(value: object) -> object:
    """A count for JSON: an int, a formula string, or None."""
    return formula(value) if is_formula(value) else value


def scalar(value: object) -> object:
    """A value JSON has no type for, as plain data: a fraction exact, a formula as text."""
    if isinstance(value, Fraction) or is_formula(value):
        return exact(value)
    raise TypeError(f"{type(value).__name__} is not plain data")


def report_dict(report: Report) -> dict:
    """The JSON object of one report (keys are a contract: scripts depend on them)."""
    return {
        "name": report.name,
        "input": [figure(size) for size in report.input],
        "batch": report.batch,
        "dtype": report.dtype,
        "layers": [_row_dict(report, row) for row in report.layers],
        "totals": totals_dict(report.totals),
        **_symbolic_dict(report),
    }


def _row_dict(report: Report, row: Row) -> dict:
    return {
        "name": row.name,
        "type": row.type,
        "inputs": list(row.inputs),
        "output_shape": [figure(size) for size in row.output_shape],
        "params": figure(row.params),
        "buffers": figure(row.buffers),
        "macs": figure(row.macs),
        "flops": figure(row.flops),
        "connections": figure(row.connections),
        "output_bytes": figure(row.output_bytes),
        "receptive_field": exact_list(row.receptive_field),
        "effective_stride": exact_list(row.effective_stride),
        "effective_padding": exact_list(row.effective_padding),
        "notes": list(row.notes),
        **_formulas_of(report, row),
        **(
            {"conditions": [_condition_dict(condition) for condition in row.conditions]}
            if report.symbols
            else {}
        ),
        **(
            {
                "parts": [
                    {
                        "name": part.name,
                        "output_shape": [figure(size) for size in part.output.as_tuple()],
                        "params": figure(part.cost.params),
                        "macs": figure(part.cost.macs),
                        "flops": figure(part.cost.flops),
                        "connections": figure(part.cost.connections),
                    }
                    for part in row.parts
                ]
            }
            if row.parts
            else {}
        ),
    }


def totals_dict(totals: Totals) -> dict:
    """The JSON object of a report's totals."""
    return {
        "params": figure(totals.params),
        "trainable_params": figure(totals.trainable_params),
        "buffers": figure(totals.buffers),
        "macs": figure(totals.macs),
        "flops": figure(totals.flops),
        "connections": figure(totals.connections),
        "peak_activation_bytes": figure(totals.peak_activation_bytes),
        "model_bytes": figure(totals.model_bytes),
    }


FORMULA_FIGURES = ("params", "macs", "flops", "output_bytes")


def _formulas_of(report: Report, row: Row) -> dict:
    """The row's figures as formulas, when the report has sizes set in a symbolic spec."""
    if report.formulas is None:
        return {}
    source = report.formulas.layers[row.index - 1]
    return {
        "formula": {
            "output_shape": [str(figure(size)) for size in source.output_shape],
            **{name: str(figure(getattr(source, name))) for name in FORMULA_FIGURES},
        }
    }


def _condition_dict(condition) -> dict:
    """A condition a layer puts on the input sizes: {"condition", "field", "kind"}."""
    return {
        "condition": formula(condition.relation),
        "field": condition.field,
        "kind": condition.kind,
    }


def _symbolic_dict(report: Report) -> dict:
    """The symbols, sizes set and assumptions of a report from a symbolic spec."""
    if not report.symbols and report.formulas is None:
        return {}
    symbolic = report.formulas or report
    data: dict = {"symbols": list(symbolic.symbols), "assumptions": list(symbolic.assumptions)}
    if report.formulas is not None:
        data["sizes"] = dict(report.sizes_set)
        totals = totals_dict(report.formulas.totals)
        data["formula_totals"] = {
            name: None if value is None else str(value) for name, value in totals.items()
        }
    return data
