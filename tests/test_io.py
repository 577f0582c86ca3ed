"""micrographia.io: HSPY/TIFF/PNG/CSV writing and reading, atomicity, errors, formats, info."""

from __future__ import annotations

import numpy as np
import pytest

import micrographia as mg
from micrographia import io
from micrographia.dataset import Axis, Dataset, Table


def _image() -> Dataset:
    rng = np.random.default_rng(0)
    return Dataset(rng.random((20, 30)).astype(np.float32),
                   [Axis("y", 20, 0.25, 1.5, "nm"), Axis("x", 30, 0.25, -2.0, "nm")],
                   title="image", metadata={"General": {"title": "image", "date": "2024-01-02"},
                                            "Signal": {"signal_type": ""},
                                            "Acquisition_instrument": {
                                                "TEM": {"beam_energy": 300.0,
                                                        "acquisition_mode": "STEM"}}})


def _stack() -> Dataset:
    rng = np.random.default_rng(1)
    return Dataset(rng.integers(0, 60000, (4, 16, 12), dtype=np.uint16),
                   [Axis("t", 4, 0.5, 0.0, "s", navigate=True), Axis("y", 16, 0.1, 0.0, "µm"),
                    Axis("x", 12, 0.1, 0.0, "µm")], title="stack")


def _si() -> Dataset:
    rng = np.random.default_rng(2)
    return Dataset(rng.poisson(4, (5, 6, 64)).astype(np.int32),
                   [Axis("y", 5, 2.0, 0.0, "nm", navigate=True),
                    Axis("x", 6, 2.0, 0.0, "nm", navigate=True),
                    Axis("E", 64, 10.0, -100.0, "eV")], title="spectrum image")


@pytest.mark.parametrize("make", [_image, _stack, _si], ids=["image", "stack", "si"])
def test_hspy_round_trip(tmp_path, make):
    d = make()
    f = io.write(d, tmp_path / "sub" / "x.hspy")
    assert f.is_file() and f.parent.name == "sub"
    (back,) = io.read(f)
    assert back.dtype == d.dtype
    np.testing.assert_array_equal(back.numpy(), d.numpy())
    assert back.axes == d.axes
    assert back.title == d.title
    assert back.kind == d.kind
    for key in ("date",):
        if "General" in d.metadata and key in d.metadata["General"]:
            assert back.metadata["General"][key] == d.metadata["General"][key]
    if "Acquisition_instrument" in d.metadata:
        assert back.metadata["Acquisition_instrument"]["TEM"]["beam_energy"] == 300.0
        assert back.metadata["Acquisition_instrument"]["TEM"]["acquisition_mode"] == "STEM"
    assert "Micrographia" not in back.metadata


def test_hspy_metadata_round_trip_exact(tmp_path):
    d = _image()
    (back,) = io.read(io.write(d, tmp_path / "m.hspy"))
    assert dict(back.metadata["General"]) == {"title": "image", "date": "2024-01-02"}
    assert dict(back.metadata["Acquisition_instrument"]["TEM"]) == {
        "beam_energy": 300.0, "acquisition_mode": "STEM"}
    (again,) = io.read(io.write(back, tmp_path / "m2.hspy"))
    assert again.metadata == back.metadata


def test_hspy_repeat_writes_are_byte_identical(tmp_path):
    log = "# Micrographia provenance\nimport micrographia as mg\n"
    a = io.write(_stack(), tmp_path / "a.hspy", provenance_log=log, display={"cmap": "gray"})
    b = io.write(_stack(), tmp_path / "b.hspy", provenance_log=log, display={"cmap": "gray"})
    assert a.read_bytes() == b.read_bytes()
    c = io.write(_stack(), tmp_path / "c.hspy", provenance_log=log + "# changed\n")
    assert c.read_bytes() != a.read_bytes()


def test_provenance_and_display_stored(tmp_path):
    import h5py

    log = "# log\nd1 = mg.open('x')\n" + "é" * 10
    f = io.write(_image(), tmp_path / "p.hspy", provenance_log=log,
                 display={"cmap": "viridis", "clim": (0.0, 2.5), "invert": True})
    assert io.read_provenance(f) == log
    with h5py.File(f, "r") as h:
        disp = h["Experiments/image/metadata/Micrographia/display"]
        assert disp.attrs["cmap"] == "viridis"
        assert bool(disp.attrs["invert"]) is True
    plain = io.write(_image(), tmp_path / "plain.hspy")
    assert io.read_provenance(plain) == ""


def test_long_provenance_log(tmp_path):
    log = "".join(f"d{i} = mg.run('filters.gaussian', d{i - 1}, sigma=1.0)\n"
                  for i in range(1, 3000))
    assert len(log) > 64 * 1024
    f = io.write(_image(), tmp_path / "long.hspy", provenance_log=log)
    assert io.read_provenance(f) == log
    assert io.read(f)[0].title == "image"


def test_read_provenance_errors(tmp_path):
    with pytest.raises(mg.FileReadError, match="nope.hspy"):
        io.read_provenance(tmp_path / "nope.hspy")
    bad = tmp_path / "bad.hspy"
    bad.write_bytes(b"not hdf5 at all" * 5)
    with pytest.raises(mg.FileReadError, match="bad.hspy"):
        io.read_provenance(bad)


def test_lazy_write_equals_eager_write(tmp_path):
    da = pytest.importorskip("dask.array")
    rng = np.random.default_rng(5)
    a = rng.integers(0, 1000, (200, 64, 80)).astype(np.uint16)  # 2 MB: several HDF5 chunks
    axes = [Axis("t", 200, navigate=True), Axis("y", 64, 0.5, 0, "nm"),
            Axis("x", 80, 0.5, 0, "nm")]
    eager = io.write(Dataset(a, axes, title="s"), tmp_path / "eager.hspy")
    calls = []

    def frame(block, block_info=None):
        calls.append(block_info[None]["chunk-location"])
        return block

    import h5py

    with h5py.File(eager, "r") as h:
        h5_chunks = h["Experiments/s/data"].id.get_num_chunks()
    assert h5_chunks > 1
    for chunks in ((1, 64, 80), (10, 64, 80)):
        calls.clear()
        lazy = Dataset(da.from_array(a, chunks=chunks).map_blocks(frame, dtype=a.dtype), axes,
                       title="s")
        f = io.write(lazy, tmp_path / "lazy.hspy")
        # written HDF5 chunk by HDF5 chunk: every source chunk is computed, at most once more
        # where an HDF5 chunk boundary cuts it, never the whole array at once
        assert len(set(calls)) == np.prod(lazy.data.numblocks)
        assert len(calls) <= np.prod(lazy.data.numblocks) + h5_chunks
        assert f.read_bytes() == eager.read_bytes()  # same values give the same file
    (back,) = io.read(f)
    np.testing.assert_array_equal(back.numpy(), a)
    assert back.axes == tuple(axes)


def test_lazy_read(tmp_path):
    d = _si()
    f = io.write(d, tmp_path / "si.hspy")
    (lazy,) = io.read(f, lazy=True)
    assert lazy.is_lazy
    assert lazy.axes == d.axes and lazy.dtype == d.dtype
    np.testing.assert_array_equal(lazy.numpy(), d.numpy())


@pytest.mark.parametrize("make", [_image, _stack], ids=["image", "stack"])
@pytest.mark.parametrize("ext", ["tif", "tiff"])
def test_tiff_calibrated_round_trip(tmp_path, make, ext):
    d = make()
    (back,) = io.read(io.write(d, tmp_path / f"x.{ext}"))
    assert back.dtype == d.dtype
    np.testing.assert_array_equal(back.numpy(), d.numpy())
    assert back.shape == d.shape
    for a, b in zip(back.sig_axes, d.sig_axes):
        assert a.scale == pytest.approx(b.scale, rel=1e-6)
        assert a.units == b.units
        assert a.name == b.name
    assert [a.navigate for a in back.axes] == [a.navigate for a in d.axes]
    assert [a.scale for a in back.nav_axes] == [a.scale for a in d.nav_axes]
    assert [a.offset for a in back.sig_axes] == pytest.approx([a.offset for a in d.sig_axes])


def test_tiff_refuses_spectrum_image(tmp_path):
    with pytest.raises(mg.FileWriteError, match="spectrum_image"):
        io.write(_si(), tmp_path / "si.tif")
    assert list(tmp_path.iterdir()) == []


def test_png_written_and_readable(tmp_path):
    from PIL import Image

    d = _stack()
    f = io.write(d, tmp_path / "s.png", display={"cmap": "gray", "frame": (2,)})
    with Image.open(f) as im:
        assert im.size == (12, 16) and im.mode == "RGB"
        arr = np.asarray(im)
    from micrographia.io.render import render

    np.testing.assert_array_equal(arr, render(d, {"cmap": "gray", "frame": (2,)}))
    (back,) = io.read(f)
    assert back.shape == (16, 12)
    jpg = io.write(_image(), tmp_path / "i.jpg")
    with Image.open(jpg) as im:
        assert im.size == (30, 20) and im.format == "JPEG"


def test_csv_table_round_trip(tmp_path):
    x = np.array([0.1, 1 / 3, -2.5e-300, np.pi * 1e20, np.nan, np.inf])
    t = Table({"dx": x, "n": np.arange(6, dtype=np.int32), "ok": [True, False] * 3,
               "label": ["a", "b,c", 'q"d', "", "e", "f"]},
              units={"dx": "nm", "n": ""}, title="shifts", metadata={"source": "test"})
    f = io.write(t, tmp_path / "t.csv")
    back = io.read_table(f)
    assert back.columns == t.columns
    assert back["dx"].tobytes() == t["dx"].tobytes()
    assert back["n"].dtype == np.int32 and back["n"].tolist() == list(range(6))
    assert back["ok"].tolist() == [True, False] * 3
    assert back["label"].tolist() == ["a", "b,c", 'q"d', "", "e", "f"]
    assert dict(back.units) == {"dx": "nm", "n": ""}
    assert back.title == "shifts"
    assert back.metadata["source"] == "test"


def test_csv_type_errors(tmp_path):
    with pytest.raises(mg.FileWriteError, match="tables only"):
        io.write(_image(), tmp_path / "d.csv")
    with pytest.raises(mg.FileWriteError, match=r"\.csv"):
        io.write(Table({"a": [1]}), tmp_path / "t.hspy")
    with pytest.raises(mg.FileWriteError, match="writable extensions"):
        io.write(_image(), tmp_path / "x.xyz")
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    from micrographia.io import hspy

    target = tmp_path / "keep.hspy"
    io.write(_image(), target)
    before = target.read_bytes()

    def broken(ds, path, **kw):
        path.write_bytes(b"partial data")
        raise RuntimeError("disk full (simulated)")

    monkeypatch.setattr(hspy, "write_hspy", broken)
    with pytest.raises(mg.FileWriteError, match=r"keep\.hspy.*disk full"):
        io.write(_stack(), target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.hspy"]


def test_unwritable_target(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(mg.FileWriteError, match="file"):
        io.write(_image(), blocker / "sub" / "x.hspy")
    with pytest.raises(mg.FileWriteError, match="folder"):
        io.write(_image(), tmp_path)  # a folder, not a file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_read_errors_name_the_file(tmp_path):
    garbage = tmp_path / "garbage.dm3"
    garbage.write_bytes(b"\x00\x01garbage" * 50)
    with pytest.raises(mg.FileReadError, match="garbage.dm3") as e:
        io.read(garbage)
    assert "\n" not in str(e.value)
    full = io.write(_stack(), tmp_path / "full.hspy")
    trunc = tmp_path / "trunc.hspy"
    trunc.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(mg.FileReadError, match="trunc.hspy"):
        io.read(trunc)
    empty = tmp_path / "empty.mrc"
    empty.write_bytes(b"")
    with pytest.raises(mg.FileReadError, match="empty.mrc.*empty"):
        io.read(empty)
    with pytest.raises(mg.FileReadError, match="missing.tif.*no such file"):
        io.read(tmp_path / "missing.tif")
    unknown = tmp_path / "notes.xyz"
    unknown.write_text("hello")
    with pytest.raises(mg.UnknownFormatError, match=r"notes.xyz.*\.dm3.*\.hspy") as e:
        io.read(unknown)
    assert isinstance(e.value, mg.FileReadError)
    bad_png = tmp_path / "bad.png"
    bad_png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    with pytest.raises(mg.FileReadError, match="bad.png"):
        io.read(bad_png)


def test_formats():
    fmts = io.formats()
    assert all(isinstance(f, io.FormatInfo) for f in fmts)
    exts = {e for f in fmts if f.read for e in f.extensions}
    for e in ("dm3", "dm4", "emd", "bcf", "mrc", "hspy", "tif", "png", "csv", "ser", "mib"):
        assert e in exts, e
    writable = {e for f in fmts if f.write for e in f.extensions}
    assert {"hspy", "tif", "png", "csv"} <= writable
    assert "dm3" not in writable
    assert all("." not in e for f in fmts for e in f.extensions)
    names = [f.name for f in fmts]
    assert "DigitalMicrograph" in names and "MRCZ" not in names  # mrcz is not installed


def test_describe(tmp_path):
    d = _image()
    f = io.write(d, tmp_path / "img.hspy")
    text = io.describe(io.read(f), f)
    assert "1 signal" in text
    assert "'image'" in text and "image" in text
    assert "(20, 30)" in text and "float32" in text and "in memory" in text
    for word in ("0.25", "1.5", "nm", "signal", "300.0", "STEM", "2024-01-02"):
        assert word in text
    si = io.write(_si(), tmp_path / "si.hspy")
    text = io.describe(io.read(si, lazy=True), si)
    assert "spectrum_image" in text and "lazy" in text and "navigation" in text
    assert "(5, 6 | 64)" in text


def test_unsupported_writers_are_refused(tmp_path):
    for ext in ("emd", "dm3", "npy"):
        with pytest.raises(mg.FileWriteError, match=r"writable extensions: \.hspy"):
            io.write(_stack(), tmp_path / f"x.{ext}")
    assert list(tmp_path.iterdir()) == []


def test_intensity_calibration_round_trip(tmp_path):
    d = _image().replace(intensity=mg.Intensity(units="e-", scale=2.5, offset=-1.0))
    (back,) = io.read(io.write(d, tmp_path / "i.hspy"))
    assert back.intensity == mg.Intensity(units="e-", scale=2.5, offset=-1.0)
    assert back.metadata["Signal"]["quantity"] == "Intensity (e-)"
    assert "Micrographia" not in back.metadata


def test_odd_metadata_values_are_written_as_text(tmp_path):
    import datetime

    d = _image().replace(metadata={"General": {"title": "image"},
                                   "Extra": {"when": datetime.date(2024, 5, 6),
                                             "tags": {"b", "a"}, "n": None,
                                             "flag": False, "ratio": 0.5,
                                             "values": [1.5, 2.5], "a/b": "slash"}})
    (back,) = io.read(io.write(d, tmp_path / "odd.hspy"))
    extra = back.metadata["Extra"]
    assert extra["when"] == "2024-05-06" and extra["n"] is None and extra["flag"] is False
    assert extra["ratio"] == 0.5 and tuple(extra["values"]) == (1.5, 2.5)
    assert extra["a-b"] == "slash"
    assert list(extra["tags"]) == ["a", "b"]


def test_velox_stream_decoder():
    from micrographia.io._velox import stream_to_array

    e = 65535
    # 2x2 scan, 4 channels, two frames: frame 0 = pixels [1], [], [2, 2], [3]; frame 1 = [0]
    stream = np.array([1, e, e, 2, 2, e, 3, e, 0, e, e, e, e], dtype=np.uint16)
    summed = stream_to_array(stream, (2, 2), 4, None)
    assert summed.dtype == np.uint16 and summed.shape == (2, 2, 4)
    assert summed[0, 0].tolist() == [1, 1, 0, 0]
    assert summed[0, 1].tolist() == [0, 0, 0, 0]
    assert summed[1, 0].tolist() == [0, 0, 2, 0] and summed[1, 1].tolist() == [0, 0, 0, 1]
    frames = stream_to_array(stream, (2, 2), 4, 2, sum_frames=False)
    assert frames.shape == (2, 2, 2, 4)
    assert frames[1].sum() == 1 and frames[1, 0, 0, 0] == 1
    assert stream_to_array(stream, (2, 2), 4, 2, first_frame=1).sum() == 1
    rebinned = stream_to_array(stream, (2, 2), 4, None, rebin_energy=2)
    assert rebinned.shape == (2, 2, 2) and rebinned[1, 0].tolist() == [0, 2]


def test_non_uniform_axis_gets_best_uniform_approximation(tmp_path):
    from rsciio.hspy import file_writer

    energy = np.array([0.0, 1.0, 2.1, 2.9, 4.0, 5.0])  # nearly 1 eV per channel
    f = tmp_path / "nonuniform.hspy"
    file_writer(str(f), {
        "data": np.arange(6, dtype=np.float32),
        "axes": [{"_type": "DataAxis", "axis": energy, "name": "Energy", "units": "eV",
                  "navigate": False}],
        "metadata": {"General": {"title": "nu"}, "Signal": {"signal_type": ""}},
        "original_metadata": {}, "attributes": {"_lazy": False}, "tmp_parameters": {},
        "learning_results": {}, "models": {}, "package_info": {}})
    (d,) = io.read(f)
    slope, intercept = np.polyfit(np.arange(6), energy, 1)
    assert d.axes[0].scale == pytest.approx(slope) and d.axes[0].offset == pytest.approx(intercept)
    assert d.axes[0].units == "eV" and d.axes[0].name == "Energy"
    assert d.title == "nu"


def test_user_entries_under_micrographia_metadata_survive(tmp_path):
    """Ground truth stored under metadata.Micrographia round-trips; provenance does not leak."""
    truth = np.arange(6, dtype=np.float32).reshape(2, 3)
    d = mg.from_array(np.zeros((4, 5), np.uint8),
                      metadata={"Micrographia": {"ground_truth": {"maps": truth, "n": 3}}})
    f = mg.save(d, tmp_path / "gt.hspy")
    back = mg.open(f)
    gt = back.metadata["Micrographia"]["ground_truth"]
    np.testing.assert_array_equal(gt["maps"], truth)
    assert gt["n"] == 3
    assert "provenance" not in back.metadata["Micrographia"]
    again = mg.save(back, tmp_path / "again.hspy")  # re-saving keeps the entry once
    np.testing.assert_array_equal(mg.open(again).metadata["Micrographia"]["ground_truth"]["maps"],
                                  truth)
