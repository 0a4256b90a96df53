"""predictql: a prediction-market server."""

__version__ = "0.1.0"
