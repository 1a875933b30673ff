"""eostrace for Python: record, read and validate Edge-of-Stability GD trajectories.

    import eostrace
    eostrace.validate("run.h5")                 # [] when valid (schema-driven, like `eostrace validate`)
    ds = eostrace.open_recording("run.h5")      # xarray.Dataset of /trajectory (+ /analysis joined on step)
    with eostrace.Recorder("mine.h5", learning_rate=lr, model=..., X=X, Y=Y, k=8) as rec:
        rec.append(step, loss=..., residual=..., ...)   # strict shapes and dtypes
    with eostrace.GDRecorder("mine.h5", learning_rate=lr, model=..., X=X, Y=Y, k=8) as rec:
        rec.step(t, F, M=M, output_norm_sq=...)          # F, Y [n] or [n, c]: eigenpairs, products computed

The recording math (top-k eigenpairs, sign convention, M-products) is in ``eostrace.linalg``
and ``eostrace.tracker``, framework-agnostic over a callable that multiplies M by a block of
vectors; ``eostrace.jax`` builds those callables (and a ready GD loop) for JAX models.
"""

from .format import (FORMAT_NAME, RecordingWriter, Schema, default_batch, default_chunk, learning_rate_estimate,
                     load_schema, open_file, open_trajectory, read_attrs, read_run, read_series, read_status,
                     read_steps, schema, validate, write_recording, __version__)
from .lock import is_held as writer_alive
from .read import check_readable, flatten_outputs, open_analysis, open_recording, read_summary
from .tracker import GDRecorder

Recorder = RecordingWriter

__all__ = ["FORMAT_NAME", "GDRecorder", "Recorder", "check_readable", "flatten_outputs", "RecordingWriter", "Schema", "default_batch", "default_chunk",
           "learning_rate_estimate", "load_schema", "open_analysis", "open_file", "open_recording",
           "open_trajectory", "read_attrs", "read_run", "read_series", "read_status", "read_steps",
           "read_summary", "schema", "validate", "write_recording", "writer_alive", "__version__"]
