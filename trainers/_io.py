"""Saving and loading fitted trainers: one file of tensors plus JSON metadata.

This module reads a fitted estimator's public attributes and writes the file, and
reads a file back into a :class:`ModelState`; it never imports the estimators (they
rebuild themselves from a :class:`ModelState`, see ``tabloader.trainers.load``).
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tabloader.errors import ModelFileError

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "ModelState",
    "check_state",
    "damaged",
    "raw_params",
    "read_model",
    "save_model",
]

FORMAT = "tabloader.trainers"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ModelState:
    """What a model file holds: the class, its parameters and the fitted state."""

    class_name: str
    params: dict[str, Any]
    coef: np.ndarray  # [F, K]
    intercept: np.ndarray  # [K]
    mean: np.ndarray
    scale: np.ndarray
    classes: np.ndarray | None
    n_features_in: int
    feature_names: np.ndarray | None
    n_iter: int
    history: list[Any]
    user: dict[str, Any]


def raw_params(estimator: Any) -> tuple[np.ndarray, np.ndarray]:
    """``coef`` ``[F, K]`` and ``intercept`` ``[K]`` of a fitted linear model."""
    coef = np.atleast_2d(np.asarray(estimator.coef_, dtype=np.float64))
    return coef.T.copy(), np.atleast_1d(np.asarray(estimator.intercept_, dtype=np.float64))


def _json_param(value: Any) -> Any:
    if isinstance(value, torch.device):
        return str(value)
    if isinstance(value, (np.random.RandomState, np.random.Generator)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def save_model(estimator: Any, path: str | os.PathLike, *, metadata: dict | None = None) -> None:
    """Write a fitted trainer to ``path`` atomically (temporary file, then ``os.replace``).

    The file is a :func:`torch.save` dict of float64 tensors (``coef``, ``intercept``,
    ``mean``, ``scale``) and one JSON string ``metadata`` (class, parameters, classes,
    feature names, ``n_iter_``, ``history_``, versions). No pickled objects.

    Parameters
    ----------
    estimator : LinearRegressor, LogisticClassifier or SoftmaxClassifier
        A fitted trainer.
    path : str or os.PathLike
        Destination file.
    metadata : dict, optional
        Extra JSON-serialisable information, returned as ``metadata_`` by
        :func:`tabloader.trainers.load`.
    """
    import sklearn
    from sklearn.utils.validation import check_is_fitted

    from tabloader import __version__

    check_is_fitted(estimator)
    coef, intercept = raw_params(estimator)
    meta: dict[str, Any] = {
        "class": type(estimator).__name__,
        "params": {k: _json_param(v) for k, v in estimator.get_params().items()},
        "n_features_in": int(estimator.n_features_in_),
        "n_iter": int(estimator.n_iter_),
        "history": estimator.history_,
        "feature_names": (
            None
            if getattr(estimator, "feature_names_in_", None) is None
            else [str(c) for c in estimator.feature_names_in_]
        ),
        "user": metadata if metadata is not None else getattr(estimator, "metadata_", None),
        "versions": {
            "tabloader": __version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "sklearn": sklearn.__version__,
        },
    }
    if hasattr(estimator, "classes_"):
        classes = np.asarray(estimator.classes_)
        if classes.dtype.kind not in "biufUSO":
            raise ValueError(
                f"classes_ should be numbers, strings or booleans to be saved, "
                f"but got dtype {classes.dtype}"
            )
        meta["classes"] = classes.tolist()
        meta["classes_dtype"] = classes.dtype.str if classes.dtype.kind != "O" else "O"
    try:
        meta_json = json.dumps(meta)
    except TypeError as exc:
        raise ValueError(f"the model's metadata is not JSON-serialisable: {exc}") from exc
    state = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "metadata": meta_json,
        "coef": torch.from_numpy(np.ascontiguousarray(coef)),
        "intercept": torch.from_numpy(np.ascontiguousarray(intercept)),
        "mean": torch.from_numpy(np.asarray(estimator.mean_, dtype=np.float64)),
        "scale": torch.from_numpy(np.asarray(estimator.scale_, dtype=np.float64)),
    }
    _write_atomically(state, Path(path))


def _umask() -> int:
    """The process's umask (read from /proc where it can, else set and restored)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _file_mode(path: Path) -> int:
    """The mode of the new file: that of the file it replaces, else ``0666 & ~umask``."""
    try:
        st = os.stat(path)
    except OSError:
        return 0o666 & ~_umask()
    return stat.S_IMODE(st.st_mode)


def _open_unnamed(directory: Path) -> int | None:
    """A file without a name in ``directory`` (Linux ``O_TMPFILE``), or ``None``: a killed
    process leaves nothing behind, since the file only gets a name once it is complete."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None or not os.path.isdir("/proc/self/fd"):
        return None
    try:
        return os.open(directory, flag | os.O_WRONLY, 0o600)
    except OSError:  # a file system without O_TMPFILE
        return None


def _link_unnamed(fd: int, name: str) -> None:
    """Give the unnamed file ``fd`` the name ``name`` (``linkat`` through /proc)."""
    proc = os.open("/proc/self/fd", os.O_RDONLY)
    try:  # src_dir_fd makes os.link call linkat(..., AT_SYMLINK_FOLLOW)
        os.link(str(fd), name, src_dir_fd=proc, follow_symlinks=True)
    finally:
        os.close(proc)


def _write_atomically(state: dict[str, Any], path: Path) -> None:
    """Write ``state`` to ``path`` at once: a complete new file or the old one, never a
    partial one, with the umask's mode (the replaced file's mode when there is one).

    The data go to an unnamed file (``O_TMPFILE``) that is linked to a temporary name
    and renamed over ``path`` when complete; where unnamed files are not supported, to a
    named temporary file. The temporary name is removed on any failure, interruption
    (``KeyboardInterrupt``) included.
    """
    directory = path.parent
    if path.is_dir():
        raise IsADirectoryError(
            f"path should be a model file to write, but {str(path)!r} is a directory; "
            "give a file name, for example model.pt inside it"
        )
    mode = _file_mode(path)
    fd = _open_unnamed(directory)
    if fd is not None:
        try:
            _write_to(fd, None, state, mode, path)
            return
        except _NotLinked:
            pass  # /proc refused the link: write a named temporary file instead
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    _write_to(fd, tmp, state, mode, path)


class _NotLinked(OSError):
    """An unnamed file could not be given a name."""


def _write_to(fd: int, tmp: str | None, state: dict[str, Any], mode: int, path: Path) -> None:
    """Write ``state`` to ``fd`` (a file named ``tmp``, or unnamed when ``None``), then
    rename it to ``path``; the temporary name is removed on any failure."""
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(state, fh)
            fh.flush()
            if hasattr(os, "fchmod"):  # not on Windows before Python 3.13
                os.fchmod(fh.fileno(), mode)
            os.fsync(fh.fileno())
            if tmp is None:
                name = str(path.parent / f".{path.name}.{os.getpid()}.{id(fh):x}.tmp")
                try:
                    _link_unnamed(fh.fileno(), name)
                except OSError as exc:
                    raise _NotLinked(str(exc)) from exc
                tmp = name
        os.replace(tmp, path)
        tmp = None
    finally:
        if tmp is not None and os.path.lexists(tmp):
            os.unlink(tmp)


def _read_state(path: Path) -> dict[str, Any]:
    if path.is_dir():
        raise ModelFileError(
            f"{str(path)!r} should be a model file, but it is a directory; give the file "
            "written by save (or train --out), for example model.pt inside it"
        )
    if not path.is_file():
        raise FileNotFoundError(f"model file {str(path)!r} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelFileError(
            f"{str(path)!r} is not a tabloader model file (torch.load with "
            f"weights_only=True failed: {type(exc).__name__})"
        ) from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ModelFileError(
            f"{str(path)!r} is not a tabloader model file: expected format {FORMAT!r}, "
            f"but got {state.get('format') if isinstance(state, dict) else type(state).__name__!r}"
        )
    if state.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{str(path)!r} has format_version={state.get('format_version')!r}; "
            f"this tabloader reads format_version={FORMAT_VERSION}"
        )
    return state


def damaged(path: Any, exc: BaseException) -> ModelFileError:
    """The error of a model file whose content does not make a model."""
    return ModelFileError(
        f"{str(path)!r} is a damaged tabloader model file: {type(exc).__name__}: {exc}"
    )


def read_model(path: str | os.PathLike) -> ModelState:
    """Read a file written by :func:`save_model` (``torch.load(weights_only=True)``).

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    tabloader.errors.ModelFileError
        When the file is not a tabloader model file, or a damaged one.
    """
    path = Path(path)
    state = _read_state(path)
    try:
        meta = json.loads(state["metadata"])
    except RecursionError as exc:
        raise ModelFileError(
            f"{str(path)!r} is a damaged tabloader model file: its metadata should be "
            "a JSON object of a few levels, but it is nested too deeply to read; save the "
            "model again"
        ) from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise damaged(path, exc) from exc
    try:
        model = _model_state(state, meta)
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
        raise damaged(path, exc) from exc
    problem = check_state(model)
    if problem is not None:
        raise ModelFileError(
            f"{str(path)!r} is a damaged tabloader model file: {problem}; save the model "
            "again (or train it again)"
        )
    return model


def _model_state(state: dict[str, Any], meta: Any) -> ModelState:
    if not isinstance(meta, dict):
        raise TypeError(f"metadata should be a JSON object, but got {type(meta).__name__}")
    classes = None
    if "classes" in meta:
        dt = meta["classes_dtype"]
        classes = np.asarray(meta["classes"], dtype=object if dt == "O" else dt)
    names = meta.get("feature_names")
    return ModelState(
        class_name=str(meta["class"]),
        params=dict(meta["params"]),
        coef=state["coef"].double().numpy(),
        intercept=state["intercept"].double().numpy(),
        mean=state["mean"].double().numpy(),
        scale=state["scale"].double().numpy(),
        classes=classes,
        n_features_in=int(meta["n_features_in"]),
        feature_names=None if names is None else np.asarray(names, dtype=object),
        n_iter=int(meta["n_iter"]),
        history=list(meta["history"]),
        user=meta.get("user") or {},
    )


#: The keys of the data spec that ``tabloader train --out`` saves (``metadata_["data"]``)
#: and of its ``csv`` options; a file with others was not written by this tabloader.
DATA_SPEC_KEYS = frozenset(
    {
        "source_features",
        "categories",
        "fill_values",
        "missing",
        "feature_means",
        "target",
        "task",
        "csv",
    }
)
DATA_SPEC_CSV_KEYS = frozenset({"header", "delimiter", "comment", "skip_rows", "encoding"})

#: (classes expected, coefficient columns) of each model class; None: any (from data)
_CLASS_SHAPES: dict[str, tuple[int | None, int | None]] = {
    "LinearRegressor": (0, None),
    "LogisticClassifier": (2, 1),
    "SoftmaxClassifier": (None, None),
}


def _check_arrays(m: ModelState) -> str | None:
    arrays = {"coef": m.coef, "intercept": m.intercept, "mean": m.mean, "scale": m.scale}
    for name, a in arrays.items():
        bad = int(a.size - np.isfinite(a).sum())
        if bad:
            return f"{name} should hold finite numbers, but {bad} of its {a.size} are NaN or inf"
    f = m.n_features_in
    if m.coef.ndim != 2 or m.coef.shape[0] != f or m.coef.shape[1] < 1:
        return f"coef should have shape ({f}, K) for n_features_in_={f}, but got {m.coef.shape}"
    k = m.coef.shape[1]
    expected = {"intercept": (k,), "mean": (f,), "scale": (f,)}
    for name, shape in expected.items():
        if arrays[name].shape != shape:
            return f"{name} should have shape {shape}, but got {arrays[name].shape}"
    if m.feature_names is not None and m.feature_names.shape != (f,):
        return f"feature_names should have {f} names, but got {m.feature_names.shape[0]}"
    return None


def _check_classes(m: ModelState) -> str | None:
    if m.class_name not in _CLASS_SHAPES:
        return f"class should be one of {sorted(_CLASS_SHAPES)}, but got {m.class_name!r}"
    n_expected, k_expected = _CLASS_SHAPES[m.class_name]
    n = 0 if m.classes is None else len(m.classes)
    k = m.coef.shape[1]
    if m.classes is not None and len(set(m.classes.tolist())) != n:
        return f"classes should be distinct, but got {m.classes.tolist()!r}"
    if m.class_name == "SoftmaxClassifier":
        n_expected, k_expected = max(k, 2), k
    if n_expected is not None and n != n_expected:
        return f"a {m.class_name} should have {n_expected} classes, but this one has {n}"
    if k_expected is not None and k != k_expected:
        return f"a {m.class_name} should have {k_expected} coefficient columns, but got {k}"
    return None


def _check_spec(user: Any) -> str | None:
    if not isinstance(user, dict):
        return f"the user metadata should be a JSON object, but got {type(user).__name__}"
    spec = user.get("data")
    if spec is None:
        return None
    if not isinstance(spec, dict):
        return f"the data spec should be a JSON object, but got {type(spec).__name__}"
    unknown = sorted(set(spec) - DATA_SPEC_KEYS)
    if unknown:
        return f"the data spec should have keys among {sorted(DATA_SPEC_KEYS)}, but got {unknown}"
    csv = spec.get("csv") or {}
    if not isinstance(csv, dict):
        return f"the data spec's csv should be a JSON object, but got {type(csv).__name__}"
    unknown = sorted(set(csv) - DATA_SPEC_CSV_KEYS)
    if unknown:
        return (
            f"the data spec's csv should have keys among {sorted(DATA_SPEC_CSV_KEYS)}, "
            f"but got {unknown}"
        )
    return None


def check_state(m: ModelState) -> str | None:
    """What is wrong with a model read from a file (``None``: nothing): non-finite numbers,
    shapes that do not match ``n_features_in_`` or the classes, an unknown data spec."""
    return _check_arrays(m) or _check_classes(m) or _check_spec(m.user)
