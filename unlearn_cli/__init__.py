"""unlearn: a command-line toolkit for machine unlearning research on image classifiers."""

__version__ = "0.1.0"
