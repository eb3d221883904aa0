"""Post-training quantization, calibration side: datasets, streaming statistics that merge
exactly, range selectors, and the calibration runner (in process or on a Dask cluster).

    from npucc.quantization import calibrate, select_ranges
    stats = calibrate(graph, "dataset.txt")                 # graph: after the default pipeline
    ranges = select_ranges(stats, "kl_divergence", dtype="u8")
    stats.save("calib.npz"); CalibrationStats.load("calib.npz")

The quantize pass (`npucc.passes.quantize.quantize_graph`) turns the ranges into types.
"""

from .calibrate import calibrate
from .calibration_stats import CalibrationStats, merge_all
from .dataset import Dataset, read_dataset_txt
from .quantize_model import QuantizedModel, quantize_model
from .schemes import Scheme, scheme_for
from .selectors import ALGORITHMS, select_range, select_ranges
from .stats import CalibrationError, ValueStats, WeightStats

__all__ = ["ALGORITHMS", "CalibrationError", "CalibrationStats", "Dataset", "QuantizedModel",
           "Scheme", "ValueStats", "WeightStats", "calibrate", "merge_all", "quantize_model",
           "read_dataset_txt", "scheme_for", "select_range", "select_ranges"]
