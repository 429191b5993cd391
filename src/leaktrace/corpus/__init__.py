"""Corpus mode: many captures, one Parquet store, any engine that can run a Python function.

``runner`` runs one self-contained task per capture (on a local process pool
or a Dask cluster), ``store`` lays the results out as a partitioned Parquet
dataset, ``query`` puts DuckDB over it and ``report`` writes the cross-app
view of which SDKs received what.
"""

from enum import StrEnum

__all__ = ["Engine"]


class Engine(StrEnum):
    """Where corpus tasks run; defined here so the CLI can name it without pyarrow installed."""

    local = "local"
    dask = "dask"
