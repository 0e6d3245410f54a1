"""convcalc: shapes, costs and receptive fields of convolutional networks, from a spec."""

__version__ = "0.1.0"
