"""Training-set files (docs/contracts.md, "Training set") to ``tf.data`` pipelines.

The parquet pipeline streams: it reads record batches of one row group at a time
(``pyarrow.parquet.ParquetFile.iter_batches``), shuffles them through a bounded
buffer, re-batches to the model's batch size and prefetches, so memory is
bounded by the shuffle buffer, not by the file. TensorFlow is imported lazily so
the column checks can fail fast, before the slow import.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

# One error for a training set that cannot be built or read, whichever side finds it;
# its module imports neither Airflow nor TensorFlow.
from integrity_risk.features.sequences import MASK_COLUMN, SequenceSpec, stack_column
from integrity_risk.features.training_set import SPLITS, UNLABELLED_COLUMN, TrainingSetError

if TYPE_CHECKING:
    from collections.abc import Iterator

COUNT_NAME_HINTS = ("count", "cnt", "num_", "_n_", "total")
# The targets of a positive-unlabelled head (frame_to_targets).
PU_POSITIVE, PU_NEGATIVE, PU_UNLABELLED, PU_MASKED = 1.0, 0.0, -1.0, -2.0


@dataclass
class FeatureSpec:
    """What the model's inputs are and how each is preprocessed.

    :param numeric: numeric (float, int, bool) feature columns, normalized in the model.
    :param log: the subset of ``numeric`` that is count-like and gets ``log1p`` first.
    :param categorical: string feature columns, looked up in a vocabulary in the model.
    :param labels: task (risk type) -> label column.
    :param sequence: the daily sequence features (``seq__<table>__<column>``, each a list of
        ``sequence_days`` values, oldest first); the mask ``seq__mask`` comes with them.
    :param sequence_log: the subset of ``sequence`` that is count-like.
    :param sequence_days: the days of each sequence (0: no sequences).
    :param pu_task: the head whose sampled unlabelled accounts (``unlabelled`` 1.0) are
        unlabelled, not negatives (the model's ``unlabelled: pu``); None: negatives for every head.
    """

    numeric: list[str]
    log: list[str]
    categorical: list[str]
    labels: dict[str, str] = field(default_factory=dict)
    sequence: list[str] = field(default_factory=list)
    sequence_log: list[str] = field(default_factory=list)
    sequence_days: int = 0
    pu_task: str | None = None

    @property
    def target_columns(self) -> list[str]:
        """The columns the targets come from: the labels, and which rows are unlabelled for ``pu_task``."""
        return list(self.labels.values()) + ([UNLABELLED_COLUMN] if self.pu_task else [])

    @property
    def sequence_inputs(self) -> list[str]:
        """The sequence features and their mask: the model's inputs of shape ``(sequence_days,)``."""
        return [*self.sequence, MASK_COLUMN] if self.sequence else []

    @property
    def features(self) -> list[str]:
        return self.numeric + self.categorical + self.sequence_inputs

    def to_dict(self) -> dict[str, Any]:
        return {
            "numeric": self.numeric,
            "log": self.log,
            "categorical": self.categorical,
            "labels": self.labels,
            "sequence": self.sequence,
            "sequence_log": self.sequence_log,
            "sequence_days": self.sequence_days,
            "pu_task": self.pu_task,
        }


def label_column(task: str) -> str:
    return f"label_{task}"


def read_manifest(training_set: str | Path) -> dict[str, Any]:
    """The training set's ``manifest.json``.

    :param training_set: folder with the three splits and the manifest.
    """
    path = Path(training_set) / "manifest.json"
    if not path.is_file():
        raise TrainingSetError(f"training set {training_set} has no manifest.json")
    return json.loads(path.read_text())


def split_path(training_set: str | Path, split: str) -> Path:
    return Path(training_set) / f"{split}.parquet"


LABEL_CONTROLS = ("permute", "invert")


def control_copy(
    training_set: str | Path, dest: str | Path, label_columns: list[str], mode: str, seed: int = 0
) -> Path:
    """A copy of a training set with its train and validation labels altered, for a control run.

    ``permute`` shuffles the labels across rows (a model with nothing to learn from the
    labels); ``invert`` swaps 1 and 0 (a model taught the opposite: worse than chance).
    The evaluation gates must stop the candidate of an ``invert`` run. The test split
    keeps the true labels, so the evaluation shows what such a model really does.
    """
    import shutil

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if mode not in LABEL_CONTROLS:
        raise ValueError(f"label control must be one of {LABEL_CONTROLS}, got {mode!r}")
    source, dest = Path(training_set), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for split in ("train", "validation"):
        table = pq.read_table(split_path(source, split))
        order = rng.permutation(table.num_rows)
        for column in label_columns:
            index = table.schema.get_field_index(column)
            values = table.column(column)
            altered = values.take(order) if mode == "permute" else pc.subtract(pa.scalar(1.0, values.type), values)
            table = table.set_column(index, column, altered)
        pq.write_table(table, split_path(dest, split))
    shutil.copy(split_path(source, "test"), split_path(dest, "test"))
    shutil.copy(source / "manifest.json", dest / "manifest.json")
    return dest


def check_training_set(training_set: str | Path, tasks: list[str], *, unlabelled: bool = False) -> dict[str, pa.Schema]:
    """Check that every split has every manifest feature and every task's label column.

    Reads only the parquet footers, so a bad training set fails in milliseconds.

    :param training_set: the training-set folder.
    :param tasks: risk types the model has heads for.
    :param unlabelled: the set must say which rows are unlabelled (``unlabelled: pu``).
    :return: split -> arrow schema.
    :raises TrainingSetError: naming the missing column(s) and the split file.
    """
    manifest = read_manifest(training_set)
    features = list(manifest.get("features") or [])
    if not features:
        raise TrainingSetError(f"manifest of {training_set} lists no features")
    sequence = SequenceSpec.from_dict(manifest.get("sequence"))
    wanted = features + (sequence.names if sequence else []) + [label_column(t) for t in tasks]
    if unlabelled:  # a positive-unlabelled loss: which rows are sampled accounts nobody labelled
        wanted.append(UNLABELLED_COLUMN)
    schemas = {}
    for split in SPLITS:
        path = split_path(training_set, split)
        if not path.is_file():
            raise TrainingSetError(f"training set {training_set} has no {path.name}")
        schema = pq.read_schema(path)
        missing = [c for c in wanted if c not in schema.names]
        if missing:
            raise TrainingSetError(
                f"{path}: missing column(s) {', '.join(missing)} (listed in manifest.json or needed as task labels)"
            )
        schemas[split] = schema
    return schemas


def infer_feature_spec(
    schema: pa.Schema,
    manifest: dict[str, Any],
    tasks: list[str],
    sample: pd.DataFrame,
    log_features: list[str] | None = None,
) -> FeatureSpec:
    """Sort the manifest's features into numeric, count-like and categorical.

    :param schema: arrow schema of the train split.
    :param manifest: the training set's manifest.
    :param tasks: risk types with a head.
    :param sample: a sample of train rows, to find count-like (non-negative, skewed) features.
    :param log_features: explicit count-like features; ``None`` picks them from the sample.
    """
    numeric, categorical = [], []
    for name in manifest["features"]:
        kind = schema.field(name).type
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            categorical.append(name)
        elif pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
            numeric.append(name)
        else:
            raise TrainingSetError(f"feature column {name} has type {kind}; expected a number or a string")
    if log_features is None:
        log = [n for n in numeric if _is_count_like(n, schema.field(n).type, sample[n])]
    else:
        unknown = [n for n in log_features if n not in numeric]
        if unknown:
            raise TrainingSetError(f"log_features not among the numeric features: {', '.join(unknown)}")
        log = list(log_features)
    spec = FeatureSpec(numeric=numeric, log=log, categorical=categorical, labels={t: label_column(t) for t in tasks})
    sequence = SequenceSpec.from_dict(manifest.get("sequence"))
    if sequence is not None:
        spec.sequence = sequence.names[:-1]
        spec.sequence_days = sequence.days
        mask = stack_column(sample[MASK_COLUMN], sequence.days) > 0 if len(sample) else None
        for name in spec.sequence:
            kind = schema.field(name).type
            if not (pa.types.is_list(kind) or pa.types.is_fixed_size_list(kind)) or not pa.types.is_floating(
                kind.value_type
            ):
                raise TrainingSetError(f"sequence column {name} has type {kind}; expected a list of floats")
            values = stack_column(sample[name], sequence.days)[mask] if mask is not None else np.array([])
            # A sequence holds its table's columns as floats: one that is not a ratio is judged as
            # the count it was (non-negative, above 1), not by its skew.
            as_kind = kind.value_type if "ratio" in name else pa.int64()
            if _is_count_like(name, as_kind, pd.Series(values)):
                spec.sequence_log.append(name)
    return spec


def _is_count_like(name: str, kind: pa.DataType, values: pd.Series) -> bool:
    if pa.types.is_boolean(kind):
        return False
    v = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64")
    v = v[np.isfinite(v)]
    if v.size == 0 or v.min() < 0:
        return False
    if pa.types.is_integer(kind) or any(h in name.lower() for h in COUNT_NAME_HINTS):
        return v.max() > 1  # a 0/1 flag is not a count
    q50, q99 = np.quantile(v, [0.5, 0.99])
    return q99 > 10 * max(q50, 1.0)


def read_sample(path: str | Path, columns: list[str], max_rows: int) -> pd.DataFrame:
    """Up to ``max_rows`` rows spread over the file, read batch by batch (for adapting preprocessing layers).

    :param path: a parquet file.
    :param columns: columns to read.
    :param max_rows: stop after this many rows.
    """
    pf = pq.ParquetFile(path)
    groups = list(range(pf.num_row_groups))
    if pf.metadata.num_rows > max_rows:
        # Every k-th row group: the splits are sorted by time, and the first rows alone
        # would give the statistics of the oldest days.
        groups = groups[:: -(-pf.metadata.num_rows // max_rows)]
    parts, rows = [], 0
    for batch in pf.iter_batches(batch_size=min(max_rows, 65_536), row_groups=groups, columns=columns):
        parts.append(batch)
        rows += batch.num_rows
        if rows >= max_rows:
            break
    table = pa.Table.from_batches(parts, schema=parts[0].schema if parts else None) if parts else None
    if table is None:
        raise TrainingSetError(f"{path} has no rows")
    return table.slice(0, max_rows).to_pandas()


def frame_to_inputs(
    frame: pd.DataFrame,
    numeric: list[str],
    categorical: list[str],
    sequence: list[str] | None = None,
    sequence_days: int = 0,
) -> dict[str, np.ndarray]:
    """Raw feature columns to the model's named inputs: float32 or string arrays of shape (n, 1),
    and float32 ``(n, sequence_days)`` for the sequence inputs.

    :param frame: rows with (at least) the feature columns.
    :param numeric: numeric feature names.
    :param categorical: string feature names; missing values become "" (out of vocabulary).
    :param sequence: sequence inputs (their mask included), each cell a list of days, oldest first.
        A frame with longer sequences gives their newest ``sequence_days``.
    """
    sequence = list(sequence or [])
    missing = [c for c in numeric + categorical + sequence if c not in frame.columns]
    if missing:
        raise TrainingSetError(f"missing feature column(s) {', '.join(missing)}")
    out = {}
    for name in numeric:
        out[name] = (
            pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype="float32", na_value=np.nan).reshape(-1, 1)
        )
    for name in categorical:
        out[name] = (
            frame[name]
            .astype("object")
            .where(frame[name].notna(), "")
            .astype(str)
            .to_numpy(dtype=object)
            .reshape(-1, 1)
        )
    for name in sequence:
        values = stack_column(frame[name])
        if values.shape[1] < sequence_days:
            raise TrainingSetError(
                f"sequence column {name} holds {values.shape[1]} days; the model reads {sequence_days}"
            )
        out[name] = np.ascontiguousarray(values[:, values.shape[1] - sequence_days :])
    return out


def spec_inputs(frame: pd.DataFrame, spec: FeatureSpec) -> dict[str, np.ndarray]:
    """:func:`frame_to_inputs` of every input of ``spec``."""
    return frame_to_inputs(frame, spec.numeric, spec.categorical, spec.sequence_inputs, spec.sequence_days)


def frame_to_targets(frame: pd.DataFrame, spec: FeatureSpec) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Label columns to targets and masks: a NaN label becomes target 0 with weight 0.

    The zero weight is what keeps an unlabelled example from counting as a negative,
    in the loss and in the weighted PR-AUC metric alike. For ``spec.pu_task`` the targets
    are :data:`PU_POSITIVE`, :data:`PU_NEGATIVE` (a label of 0), :data:`PU_UNLABELLED` (a
    sampled account nobody labelled) and :data:`PU_MASKED` (weight 0): its loss
    (``integrity_risk.training.model.NonNegativePULoss``) tells them apart.

    :return: (task -> float32 (n, 1) targets, task -> float32 (n,) sample weights).
    """
    y, w = {}, {}
    for task, col in spec.labels.items():
        values = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype="float32", na_value=np.nan)
        mask = np.isfinite(values)
        target = np.where(mask, values, 0.0)
        if task == spec.pu_task:
            sampled = pd.to_numeric(frame[UNLABELLED_COLUMN], errors="coerce").to_numpy(dtype="float32") == 1.0
            target = np.where(mask & sampled & (values == 0.0), PU_UNLABELLED, np.where(mask, target, PU_MASKED))
        y[task] = target.astype("float32").reshape(-1, 1)
        w[task] = mask.astype("float32")
    return y, w


def _signature(spec: FeatureSpec, with_labels: bool):
    import tensorflow as tf

    x = {n: tf.TensorSpec((None, 1), tf.float32, name=n) for n in spec.numeric}
    x.update({n: tf.TensorSpec((None, 1), tf.string, name=n) for n in spec.categorical})
    x.update({n: tf.TensorSpec((None, spec.sequence_days), tf.float32, name=n) for n in spec.sequence_inputs})
    if not with_labels:
        return x
    y = {t: tf.TensorSpec((None, 1), tf.float32) for t in spec.labels}
    w = {t: tf.TensorSpec((None,), tf.float32) for t in spec.labels}
    return x, y, w


def _chunks(
    path: Path,
    spec: FeatureSpec,
    with_labels: bool,
    shuffle_buffer: int,
    rng: np.random.Generator | None,
    read_rows: int,
) -> Iterator[Any]:
    """Yield converted chunks of up to ``shuffle_buffer`` rows; shuffled when ``rng`` is given."""
    pf = pq.ParquetFile(path)
    columns = spec.features + (spec.target_columns if with_labels else [])
    groups = list(range(pf.num_row_groups))
    if rng is not None:
        rng.shuffle(groups)  # row-group order varies by epoch; rows mix inside the buffer below
    pool, pooled = [], 0

    def emit(batches):
        table = pa.Table.from_batches(batches)
        if rng is not None:
            table = table.take(rng.permutation(table.num_rows))
        # The sequences go from Arrow's flat values to arrays whole, not cell by cell through pandas.
        frame = table.drop_columns(spec.sequence_inputs).to_pandas()
        x = frame_to_inputs(frame, spec.numeric, spec.categorical)
        x.update({n: stack_column(table.column(n), spec.sequence_days) for n in spec.sequence_inputs})
        if not with_labels:
            return x
        y, w = frame_to_targets(frame, spec)
        return x, y, w

    for batch in pf.iter_batches(batch_size=read_rows, row_groups=groups, columns=columns):
        pool.append(batch)
        pooled += batch.num_rows
        if pooled >= shuffle_buffer:
            yield emit(pool)
            pool, pooled = [], 0
    if pool:
        yield emit(pool)


def parquet_dataset(
    path: str | Path,
    spec: FeatureSpec,
    batch_size: int,
    *,
    shuffle: bool = True,
    with_labels: bool = True,
    shuffle_buffer: int = 50_000,
    seed: int = 0,
    read_rows: int = 8192,
):
    """A streaming ``tf.data.Dataset`` of ``(inputs, targets, sample_weights)`` batches from one split.

    :param path: the split's parquet file.
    :param spec: the feature spec (inputs and label columns).
    :param batch_size: rows per batch.
    :param shuffle: shuffle rows (training); off for validation, test and scoring.
    :param with_labels: yield targets and masks; off yields inputs only (prediction).
    :param shuffle_buffer: rows held in memory for shuffling.
    :param seed: seed of the shuffle; each epoch still gets a new order.
    :param read_rows: rows per parquet read.
    """
    import tensorflow as tf

    path = Path(path)
    rng = np.random.default_rng(seed) if shuffle else None
    buffer = shuffle_buffer if shuffle else max(read_rows, batch_size)

    def generator():
        yield from _chunks(path, spec, with_labels, buffer, rng, read_rows)

    ds = tf.data.Dataset.from_generator(generator, output_signature=_signature(spec, with_labels))
    ds = ds.rebatch(batch_size)
    # The row count is in the parquet footer: a known length gives Keras its progress
    # and lets a distribution strategy plan the epoch.
    rows = pq.ParquetFile(path).metadata.num_rows
    ds = ds.apply(tf.data.experimental.assert_cardinality(-(-rows // batch_size)))
    options = tf.data.Options()
    # A generator has no files to shard by: split batches between replicas instead.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)


def in_memory_dataset(frame: pd.DataFrame, spec: FeatureSpec, batch_size: int, *, shuffle: bool = True, seed: int = 0):
    """The same batches as :func:`parquet_dataset`, from tensors already in memory (benchmark reference).

    :param frame: the split, loaded.
    :param spec: the feature spec.
    :param batch_size: rows per batch.
    :param shuffle: shuffle rows each epoch.
    :param seed: shuffle seed.
    """
    import tensorflow as tf

    x = spec_inputs(frame, spec)
    y, w = frame_to_targets(frame, spec)
    tensors = tf.nest.map_structure(tf.constant, (x, y, w))
    # Shuffle row indices and gather whole batches: per-row elements would make
    # tf.data, not the model, the bottleneck of this reference.
    ds = tf.data.Dataset.range(len(frame))
    if shuffle:
        ds = ds.shuffle(len(frame), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size).map(
        lambda idx: tf.nest.map_structure(lambda t: tf.gather(t, idx), tensors), num_parallel_calls=tf.data.AUTOTUNE
    )
    return ds.prefetch(tf.data.AUTOTUNE)


def read_labels(path: str | Path, spec: FeatureSpec) -> pd.DataFrame:
    """Only the label columns of a split, in file order.

    :param path: the split's parquet file.
    :param spec: the feature spec naming the label columns.
    """
    return pq.read_table(path, columns=list(spec.labels.values())).to_pandas()
