"""Imports the modules of the passes npucc ships, which registers them (loaded lazily by base)."""

from . import cse, dce, eliminate_noops, fold_constants  # noqa: F401
