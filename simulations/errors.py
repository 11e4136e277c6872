"""Errors the simulations library raises for bad input; the CLI prints them as one line."""


class SimulationError(Exception):
    """A problem with a scenario, policy name, log file or other user input."""
