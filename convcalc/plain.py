"""Values and reports as plain data: ints, exact fractions as 'p/q', formulas as text.

What `Report.to_dict()` returns and `convcalc shapes -f json` writes. It imports neither
`render` nor anything that imports `analysis`, so that the analysis can ask it for its
report's data without an import cycle.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING

from convcalc import dims, figures

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
        "inputs": {name: [figure(size) for size in shape] for name, shape in report.inputs},
        "outputs": list(report.outputs),
        "batch": report.batch,
        "dtype": report.dtype,
        **(
            {"training": {"optimizer": report.training.optimizer, "amp": report.training.amp}}
            if report.training is not None
            else {}
        ),
        "layers": [_row_dict(report, row) for row in report.layers],
        "totals": totals_dict(report.totals),
        **_symbolic_dict(report),
    }


def figure_value(unit: str, value: object) -> object:
    """A figure of the given unit (figures.COUNT...) as plain data."""
    if unit == figures.FIELD:
        return exact_list(value)
    if unit == figures.SHAPE:
        return None if value is None else [figure(size) for size in value]
    return figure(value)


def _figures_dict(values: dict[str, object]) -> dict:
    """Layer figures by name as plain data, in the registry's order."""
    return {
        layer_figure.name: figure_value(layer_figure.unit, values[layer_figure.name])
        for layer_figure in figures.LAYER_FIGURES
        if layer_figure.name in values
    }


def _row_dict(report: Report, row: Row) -> dict:
    return {
        "name": row.name,
        "type": row.type,
        "inputs": list(row.inputs),
        **({"shares": row.layer.shares} if row.layer is not None and row.layer.shares else {}),
        **_figures_dict(row.figures),
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
                        **_figures_dict(figures.part_figures(part.output, part.cost)),
                    }
                    for part in row.parts
                ]
            }
            if row.parts
            else {}
        ),
    }


def totals_dict(totals: Totals) -> dict:
    """The JSON object of a report's totals, in the order of figures.TOTALS."""
    return {
        total.name: figure(totals.figures[total.name])
        for total in figures.TOTALS
        if total.name in totals.figures
    }


def _formulas_of(report: Report, row: Row) -> dict:
    """The row's figures as formulas, when the report has sizes set in a symbolic spec."""
    if report.formulas is None:
        return {}
    source = report.formulas.layers[row.index - 1]
    formulas = {}
    for layer_figure in figures.LAYER_FIGURES:
        if layer_figure.formula:
            value = source.figures[layer_figure.name]
            formulas[layer_figure.name] = (
                [str(figure(size)) for size in value]
                if layer_figure.unit == figures.SHAPE
                else str(figure(value))
            )
    return {"formula": formulas}


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
