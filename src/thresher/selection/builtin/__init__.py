"""The built-in selection strategies: the glue between `Strategy` and the pure functions that do the math.

Each module holds one strategy (top and bottom share one) and is registered by one line in
`thresher.selection.registry`; the functions they call (`thresher.selection.strategies`, `zip`, `dsir`) are what
the unit tests pin down.
"""
