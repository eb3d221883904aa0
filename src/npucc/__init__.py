"""npucc: an open neural-network compiler for NPUs."""

__version__ = "0.1.0"
