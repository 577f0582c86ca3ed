"""Real vendor files (../shared/data, see its MANIFEST.md): shapes and calibrations as read.

Shapes are given as HyperSpy shows them, (navigation | signal) in C order, i.e. the full array
shape after Micrographia's transposition (navigation axes first). Every value below was read
here and checked against the manifest; where they disagree, a comment says which is right.
"""

from __future__ import annotations

import numpy as np
import pytest

from micrographia import io

pytestmark = pytest.mark.shared_data

# (file, number of signals, index, shape, nav dims, dtype, last-axis scale, units, offset, title)
CASES = [
    ("dm3/multi_signal.dm3", 2, 0, (512, 512), 0, "uint16", 0.0177516, "nm", 0.0, "HAADF"),
    ("dm3/multi_signal.dm3", 2, 1, (512,), 0, "float32", 1.0, "px", 0.0, "Plot"),
    ("dm3/test_STEM_image.dm3", 1, 0, (68, 68), 0, "uint32", 0.248538, "nm", 51.4474, None),
    ("dm3/test_diffraction_pattern.dm3", 1, 0, (87, 87), 0, "int32", 0.174433, "1/nm",
     137.104227, None),
    ("dm3/test_stackbuilder_imagestack.dm3", 1, 0, (3, 2, 16), 1, "uint32", 0.0599829, "µm",
     0.0, "stackbuilder_test4_16x2"),
    ("dm3/Fei HAADF-DE_location.dm3", 1, 0, (4, 16), 0, "uint16", 0.00550607, "µm", 0.0, None),
    ("dm3/Fei HAADF-UK_location.dm3", 1, 0, (4, 16), 0, "uint16", 0.00550607, "µm", 0.0, None),
    # rsciio gives keV: 5 eV/channel = 0.005 keV, offset -478 eV = -0.478 keV (manifest agrees)
    ("dm3/test-EDS_spectrum.dm3", 1, 0, (4096,), 0, "uint32", 0.005, "keV", -0.478,
     "EDS Spectrum"),
    ("dm3/EELS_STO.dm3", 1, 0, (2048,), 0, "float32", 0.25, "eV", 350.0, None),
    ("dm4/EELS_STO.dm4", 1, 0, (2048,), 0, "float32", 0.25, "eV", 350.0, "EELS_STO"),
    # raw rsciio gives (2048, 2, 2) with E navigate=True; HyperSpy (and we) give (2, 2 | 2048)
    ("dm4/EELS_SI.dm4", 1, 0, (2, 2, 2048), 2, "float32", 1.0, "eV", 300.0, "EELS_SI"),
    # packed complex FFT: rsciio returns a (5, 4) array with 5-long axes; the data shape wins
    ("dm4/test_fft_packed_complex8.dm4", 1, 0, (5, 4), 0, "complex64", 0.2, "", -0.5,
     "FFT of untitled2"),
    ("bcf/30x30_instructively_packed_16bit_compressed.bcf", 2, 0, (30, 30), 0, "uint16",
     1.66741, "µm", 0.0, "AsB"),
    ("bcf/30x30_instructively_packed_16bit_compressed.bcf", 2, 1, (30, 30, 2048), 2, "uint16",
     0.009999, "keV", -0.47225, "EDX"),
    ("bcf/test_TEM.bcf", 2, 0, (64, 64), 0, "uint16", 0.000771005, "µm", 0.0, "HAADF"),
    ("bcf/test_TEM.bcf", 2, 1, (64, 64, 2048), 2, "uint8", 0.010001, "keV", -0.475448, "EDX"),
    ("emd_velox/fei_emd_image.emd", 1, 0, (512, 512), 0, "uint16", 0.00530241, "µm",
     -1.35742, "HAADF"),
    ("emd_velox/fei_example_tem_stack.emd", 1, 0, (2, 3, 3), 1, "int16", 8.17288, "pm",
     -16738.0648, "Ceta"),
    ("emd_prismatic/Si100_4D.emd", 1, 0, (2, 11, 11, 8, 8), 3, "float32", 0.184162, "1 / nm",
     -0.736648, "CBED_array"),
    ("mrc/HAADFscan.mrc", 1, 0, (16, 16), 0, "uint16", 5.679131317138672, "nm", 0.0, None),
    # TIA: rsciio 0.15 leaves offsets in metres while calling them nm; corrected here, so the
    # 128 px x 0.384 nm field is centred: offset -24.5986 nm (not -2.46e-08).
    ("tia/03_Scanning Preview.emi", 1, 0, (5, 128, 128), 1, "uint16", 0.384352, "nm",
     -24.5986, None),
    ("tia/128x128-TEM_search.emi", 1, 0, (128, 128), 0, "int32", 5.26121, "nm", -336.7177,
     None),
    ("tia/64x64_TEM_images_acquire.emi", 1, 0, (64, 64), 0, "float32", 6.28183, "nm",
     -201.0187, None),
    # the manifest's "very large negative offsets" (-3.25e9) are the same rsciio unit bug:
    # -3.25e9 1/m = -3.25 1/nm, a centred 64 x 0.1016 1/nm pattern.
    ("tia/64x64_diffraction_acquire.emi", 1, 0, (64, 64), 0, "float32", 0.101572, "1 / nm",
     -3.2503, None),
    ("tia/16x16-spectrum_image-5x5x1024.emi", 1, 0, (5, 5, 1024), 2, "int32", 0.2, "eV", -20.0,
     None),
    ("mib/001_4x2_6bit.mib", 1, 0, (2, 4, 256, 256), 2, "uint8", 1.0, "px", 0.0, None),
    ("mib/002_4x2_6bit_roi128.mib", 1, 0, (2, 4, 128, 256), 2, "uint8", 1.0, "px", 0.0, None),
    ("mib/Single_1_Frame_CounterDepth_12_Rows_256.mib", 1, 0, (256, 256), 0, ">u2", 1.0, "px",
     0.0, None),
    ("blo/test1.blo", 1, 0, (3, 2, 144, 144), 2, "uint8", 0.0160617, "cm", 0.0, None),
    # rsciio gives metres (1.1649976e-08 m); shown in nm. The manifest's 11.649976 nm is right.
    ("tiff/test_tiff_Zeiss_SEM_512pix.tif", 1, 0, (384, 512), 0, "uint8", 11.649976, "nm", 0.0,
     None),
    ("tiff/FEI-Helios-Ebeam-16bits.tif", 1, 0, (471, 512), 0, "uint16", 3.3724, "µm", 0.0,
     None),
    # atomap files: units are missing in the file (in fact nm): kept empty, not invented
    ("hspy/test_ADF_cropped.hdf5", 1, 0, (400, 380), 0, "float16", 0.00932627, "", 0.0, None),
    ("hspy/test_ABF_cropped.hdf5", 1, 0, (400, 380), 0, "float16", 0.00932627, "", 0.0, None),
    ("hspy/01_holo_Vbp_130V_0V_bin2_crop.hdf5", 1, 0, (512, 512), 0, "int64", 0.919752, "nm",
     0.0, "Hologram of Fe needle"),
    ("hspy/EDS_SEM_TM002.hspy", 1, 0, (1024,), 0, "int32", 0.01, "keV", -0.1,
     "EDS SEM Spectrum"),
    ("hspy/EDS_TEM_FePt_nanoparticles.hspy", 1, 0, (992,), 0, "uint32", 0.020028, "keV",
     0.169315, "EDS TEM Spectrum"),
    ("msa/coreloss_spectrum.msa", 1, 0, (2048,), 0, "float64", 0.2, "eV", 360.0, None),
    ("msa/lowloss_spectrum.msa", 1, 0, (2048,), 0, "float64", 0.2, "eV", -40.0, None),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}[{c[2]}]" for c in CASES])
def test_read_real_file(shared_data, case):
    rel, n, idx, shape, nav, dtype, scale, units, offset, title = case
    datasets = io.read(shared_data / rel)
    assert len(datasets) == n
    d = datasets[idx]
    assert d.shape == shape
    assert len(d.nav_axes) == nav
    assert all(a.navigate for a in d.axes[:nav]) and not any(a.navigate for a in d.axes[nav:])
    assert d.dtype == np.dtype(dtype)
    last = d.axes[-1]
    assert last.scale == pytest.approx(scale, rel=1e-5)
    assert last.units == units
    assert last.offset == pytest.approx(offset, rel=1e-5, abs=1e-9)
    if title is not None:
        assert d.title == title
    assert not d.is_lazy


def test_stem_image_offsets(shared_data):
    (d,) = io.read(shared_data / "dm3/test_STEM_image.dm3")
    y, x = d.axes
    assert (y.name, x.name) == ("y", "x")
    assert y.offset == pytest.approx(42.5, rel=1e-6)
    assert x.offset == pytest.approx(51.4474, rel=1e-5)


def test_multi_signal_metadata(shared_data):
    haadf = io.read(shared_data / "dm3/multi_signal.dm3")[0]
    md = haadf.metadata
    assert md["General"]["date"] == "2019-12-10" and md["General"]["time"] == "15:32:41"
    assert md["General"]["authors"] == "JohnDoe"
    tem = md["Acquisition_instrument"]["TEM"]
    assert tem["beam_energy"] == 300.0 and tem["acquisition_mode"] == "STEM"
    assert tem["camera_length"] == 77.0 and tem["magnification"] == 1e7
    assert tem["dwell_time"] == pytest.approx(3.24e-5)
    assert tem["microscope"] == "Example Microscope"
    assert md["Sample"]["description"] == "PrecipitateA"
    assert haadf.original_metadata["ImageList"]["TagGroup0"]["ImageTags"]


@pytest.mark.parametrize("rel,microscope,date,time", [
    ("dm3/test_stackbuilder_imagestack.dm3", "JEM-ARM200F", "2015-05-17", "17:00:16"),
    ("dm3/test_diffraction_pattern.dm3", "FEI Tecnai", None, None),
    ("dm3/test-EDS_spectrum.dm3", "FEI Titan", "2016-08-08", "21:46:19"),
    ("dm4/EELS_SI.dm4", "FEI Titan", "2019-05-14", "20:50:13"),
    ("dm3/Fei HAADF-DE_location.dm3", None, "2016-08-27", "20:54:33"),
    ("dm3/Fei HAADF-UK_location.dm3", None, "2016-08-27", "20:52:30"),
])
def test_dm_microscope_date_time(shared_data, rel, microscope, date, time):
    (d,) = io.read(shared_data / rel)
    if microscope:
        assert d.metadata["Acquisition_instrument"]["TEM"]["microscope"] == microscope
    if date:
        assert d.metadata["General"]["date"] == date
        assert d.metadata["General"]["time"] == time


def test_eels_dm3_equals_dm4(shared_data):
    (a,) = io.read(shared_data / "dm3/EELS_STO.dm3")
    (b,) = io.read(shared_data / "dm4/EELS_STO.dm4")
    np.testing.assert_array_equal(a.data, b.data)
    assert a.axes[0].coords[int(np.argmax(a.data))] == pytest.approx(461.25)
    assert a.metadata["Signal"]["signal_type"] == "EELS"


def test_eels_si_axes(shared_data):
    (d,) = io.read(shared_data / "dm4/EELS_SI.dm4")
    assert [a.name for a in d.axes] == ["y", "x", "Energy loss"]
    assert [a.navigate for a in d.axes] == [True, True, False]
    assert d.kind == "spectrum_image"
    assert d.axes[0].scale == pytest.approx(0.00199207, rel=1e-5) and d.axes[0].units == "µm"
    assert d.metadata["General"]["date"] == "2019-05-14"
    assert d.metadata["Acquisition_instrument"]["TEM"]["convergence_angle"] == 21.0


DTYPE_KEYS = {1: "int16", 2: "float32", 3: "complex64", 5: "complex64", 6: "uint8",
              7: "int32", 9: "int8", 10: "uint16", 11: "uint32", 12: "float64",
              13: "complex128", 14: "bool",
              # RGBA: rsciio gives a structured (R, G, B, A) uint8 array with R = G = B = value
              # and A = 0; Micrographia returns the grey channel as uint8.
              8: "uint8", 23: "uint8",
              27: "complex64", 28: "complex128"}


@pytest.mark.parametrize("ext", ["dm3", "dm4"])
def test_dtype_matrix(shared_data, ext):
    folder = shared_data / ext / "dtype_matrix_2D"
    files = sorted(folder.glob(f"test-*.{ext}"))
    assert len(files) == (14 if ext == "dm3" else 16)
    for f in files:
        key = int(f.stem.split("-")[1])
        (d,) = io.read(f)
        assert d.dtype == np.dtype(DTYPE_KEYS[key]), f.name
        np.testing.assert_array_equal(d.numpy(), np.array([[1, 2], [3, 4]]).astype(d.dtype),
                                      err_msg=f.name)
        if key in (8, 23):
            assert "R channel" in d.metadata["Signal"]["rgb_conversion"]


def test_bcf_chevkinite(shared_data):
    haadf, edx = io.read(shared_data / "bcf/30x30_instructively_packed_16bit_compressed.bcf")
    ref = np.load(shared_data / "bcf/30x30_16bit.npy")
    np.testing.assert_array_equal(edx.data[:, :, 222:224], ref)
    assert int(edx.numpy().sum(dtype=np.int64)) == 18_621_362
    assert edx.metadata["Signal"]["signal_type"] == "EDS_SEM"
    assert edx.axes[0].scale == pytest.approx(1.66741, rel=1e-5)
    assert haadf.kind == "image"


def test_bcf_tem_elements(shared_data):
    _, edx = io.read(shared_data / "bcf/test_TEM.bcf")
    assert sorted(edx.metadata["Sample"]["elements"]) == ["Cu", "O", "Pd", "Ti"]
    assert edx.metadata["Acquisition_instrument"]["TEM"]["beam_energy"] == 200.0


def test_velox_si(shared_data):
    datasets = io.read(shared_data / "emd_velox/Test SI 16x16 215 kx.emd")
    assert len(datasets) == 10
    titles = [d.title for d in datasets]
    assert titles[4:9] == ["C", "Ca", "O", "Cu", "HAADF"]
    haadf = datasets[titles.index("HAADF")]
    assert haadf.shape == (16, 16) and haadf.dtype == np.uint16
    assert haadf.axes[-1].scale == pytest.approx(3.59925, rel=1e-5)
    assert haadf.metadata["Acquisition_instrument"]["TEM"]["beam_energy"] == 300.0
    assert haadf.metadata["General"]["date"] == "2024-02-29"
    si = datasets[9]
    assert si.kind == "spectrum_image" and si.metadata["Signal"]["signal_type"] == "EDS_TEM"
    assert si.shape == (16, 16, 4096) and si.dtype == np.uint16
    assert si.axes[0].scale == pytest.approx(3.59925, rel=1e-5) and si.axes[0].units == "nm"
    assert si.axes[-1].scale == pytest.approx(0.01) and si.axes[-1].units == "keV"
    assert si.axes[-1].offset == pytest.approx(-0.25)
    assert list(si.metadata["Sample"]["elements"]) == ["C", "O", "Ca", "Cu"]  # as HyperSpy
    # 42 k counts; summed over the scan they equal the four detector spectra, count for count
    total = si.numpy().sum(axis=(0, 1), dtype=np.int64)
    assert int(total.sum()) == 42_097
    detectors = sum(d.numpy().astype(np.int64) for d in datasets[:4])
    np.testing.assert_array_equal(total, detectors)
    lazy = io.read(shared_data / "emd_velox/Test SI 16x16 215 kx.emd", lazy=True)
    assert lazy[9].is_lazy
    np.testing.assert_array_equal(lazy[9].numpy(), si.numpy())


def test_tia_exact_pixels(shared_data):
    (d,) = io.read(shared_data / "tia/64x64_TEM_images_acquire.emi")
    np.testing.assert_array_equal(d.data, np.load(shared_data / "tia/64x64_TEM_images_acquire.npy"))
    assert d.metadata["Acquisition_instrument"]["TEM"]["acquisition_mode"] == "TEM"


def test_tia_negative_scale(shared_data):
    (d,) = io.read(shared_data / "tia/16x16-spectrum_image-5x5x1024.emi")
    assert d.axes[0].scale == pytest.approx(-0.12054, rel=1e-4)
    assert d.axes[1].scale == pytest.approx(0.12054, rel=1e-4)
    assert d.kind == "spectrum_image"


def test_lazy_equals_eager(shared_data):
    for rel in ("dm4/EELS_SI.dm4", "bcf/test_TEM.bcf", "dm4/test_fft_packed_complex8.dm4",
                "tia/03_Scanning Preview.emi", "mrc/HAADFscan.mrc",
                "dm4/dtype_matrix_2D/test-8.dm4", "emd_velox/fei_example_tem_stack.emd",
                "hspy/EDS_SEM_TM002.hspy", "tiff/test_tiff_Zeiss_SEM_512pix.tif"):
        eager = io.read(shared_data / rel)
        lazy = io.read(shared_data / rel, lazy=True)
        assert len(lazy) == len(eager)
        for e, la in zip(eager, lazy):
            assert la.is_lazy, rel
            assert la.axes == e.axes, rel
            assert la.dtype == e.dtype, rel
            np.testing.assert_array_equal(la.numpy(), e.numpy(), err_msg=rel)


def test_info_command(shared_data, capsys):
    from micrographia.cli import main

    assert main(["info", str(shared_data / "dm4/EELS_SI.dm4"),
                 str(shared_data / "tiff/test_tiff_Zeiss_SEM_512pix.tif")]) == 0
    out = capsys.readouterr().out
    assert "(2, 2 | 2048)" in out and "Energy loss" in out and "eV" in out
    assert "µm" in out and "FEI Titan" in out and "2019-05-14" in out
    assert "(384, 512)" in out and "11.65" in out and "nm" in out
    assert main(["info", "--lazy", str(shared_data / "dm3/multi_signal.dm3")]) == 0
    out = capsys.readouterr().out
    assert "2 signals" in out and "lazy" in out and "Example Microscope" in out


def test_real_file_round_trips_through_hspy(shared_data, tmp_path):
    (d,) = io.read(shared_data / "dm4/EELS_SI.dm4")
    (back,) = io.read(io.write(d, tmp_path / "si.hspy"))
    assert back.axes == d.axes and back.title == d.title
    np.testing.assert_array_equal(back.data, d.data)
    assert back.metadata["Acquisition_instrument"] == d.metadata["Acquisition_instrument"]


ROUND_TRIP = ["dm3/multi_signal.dm3", "dm3/test_stackbuilder_imagestack.dm3", "bcf/test_TEM.bcf",
              "tia/16x16-spectrum_image-5x5x1024.emi", "mib/002_4x2_6bit_roi128.mib",
              "tiff/test_tiff_Zeiss_SEM_512pix.tif", "emd_velox/fei_example_tem_stack.emd",
              "emd_prismatic/Si100_4D.emd", "hspy/test_ADF_cropped.hdf5",
              "msa/lowloss_spectrum.msa"]


@pytest.mark.parametrize("rel", ROUND_TRIP)
def test_every_signal_round_trips_through_hspy(shared_data, tmp_path, rel):
    """Data, dtype, axes, title and the whole metadata tree survive .hspy; writes repeat."""
    for i, d in enumerate(io.read(shared_data / rel)):
        f = io.write(d, tmp_path / f"s{i}.hspy", provenance_log="# log\n")
        (back,) = io.read(f)
        assert back.dtype == d.dtype and back.axes == d.axes and back.title == d.title
        np.testing.assert_array_equal(back.numpy(), d.numpy())
        assert back.metadata == d.metadata
        again = io.write(d, tmp_path / f"again{i}.hspy", provenance_log="# log\n")
        assert again.read_bytes() == f.read_bytes()


def test_real_files_open_in_hyperspy(shared_data, tmp_path):
    hs = pytest.importorskip("hyperspy.api")
    for rel, cls in (("dm4/EELS_SI.dm4", "Signal1D"), ("mib/001_4x2_6bit.mib", "Signal2D")):
        (d,) = io.read(shared_data / rel)
        s = hs.load(str(io.write(d, tmp_path / "h.hspy")))
        assert cls in [c.__name__ for c in type(s).__mro__]
        assert s.data.shape == d.shape
        assert [a.navigate for a in s.axes_manager._axes] == [a.navigate for a in d.axes]
        assert [a.scale for a in s.axes_manager._axes] == [a.scale for a in d.axes]


@pytest.mark.parametrize("rel", ["dm3/multi_signal.dm3", "dm4/EELS_SI.dm4", "bcf/test_TEM.bcf",
                                 "emd_velox/fei_emd_image.emd", "mrc/HAADFscan.mrc",
                                 "hspy/EDS_SEM_TM002.hspy", "tiff/FEI-Helios-Ebeam-16bits.tif"])
def test_truncated_real_file_is_a_clear_error(shared_data, tmp_path, rel):
    from micrographia.errors import FileReadError

    data = (shared_data / rel).read_bytes()
    bad = tmp_path / f"cut {rel.split('/')[-1]}"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(FileReadError) as e:
        io.read(bad)
    msg = str(e.value)
    assert bad.name in msg and "\n" not in msg
