"""Data: datasets (embedded MNIST, faces, tfds, user files), measured datasets, measurement files."""

from .datasets import DATASETS, SPLITS, DatasetUnavailableError, as_tf_dataset, load_dataset
from .files import (MeasurementFileError, MeasurementSet, MeasurementStream, load_measurements, open_measurements,
                    operator_from_spec, save_measurements)
from .measured import UNLABELLED, hide_labels, measure_dataset, unmeasure_dataset

__all__ = ["DATASETS", "SPLITS", "DatasetUnavailableError", "load_dataset", "as_tf_dataset", "measure_dataset",
           "unmeasure_dataset", "hide_labels", "UNLABELLED", "MeasurementFileError", "MeasurementSet",
           "MeasurementStream", "load_measurements", "open_measurements", "save_measurements", "operator_from_spec"]
