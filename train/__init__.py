"""Training: data loading and validation, the forest pipeline, search, calibration, evaluation."""
