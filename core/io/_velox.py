"""Velox EMD spectrum images without the optional ``sparse`` package.

RosettaSciIO decodes Velox EDS spectrum streams in a helper module that imports ``sparse`` at
the top, and refuses to read a spectrum image when ``sparse`` is missing, although its eager
path builds a dense array. Here the stream is decoded with numpy (vectorised, in blocks) and
handed to RosettaSciIO's reader in place of that helper, for the duration of one read only.

The stream format: a sequence of uint16 values, where 65535 closes the current scan pixel and
any other value is the energy channel of one detected X-ray; after the last pixel of the scan
the next frame starts at the first pixel.
"""

from __future__ import annotations

import contextlib
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["stream_to_array", "read_velox_dense"]

_END_OF_PIXEL = 65535
_BLOCK = 1 << 24  # stream values decoded at a time (bounded temporary memory)


def stream_to_array(stream: Any, spatial_shape: tuple[int, int], channels: int,
                    last_frame: int | None, first_frame: int = 0, rebin_energy: int = 1,
                    sum_frames: bool = True, dtype: Any = "uint16",
                    spectrum_image: np.ndarray | None = None) -> np.ndarray:
    """Decode a Velox spectrum stream into a dense spectrum image.

    Parameters
    ----------
    stream : array_like
        The uint16 stream.
    spatial_shape : tuple of int
        ``(ny, nx)`` of the scan.
    channels : int
        Energy channels.
    last_frame : int or None
        Frames ``>= last_frame`` are ignored (None: all).
    first_frame : int
        Frames before this are ignored.
    rebin_energy : int
        Channels summed together.
    sum_frames : bool
        Sum the frames (``(ny, nx, E)``) or keep them (``(frames, ny, nx, E)``).
    dtype : dtype
        Output dtype when ``spectrum_image`` is None.
    spectrum_image : numpy.ndarray, optional
        Array to add the counts to.

    Returns
    -------
    numpy.ndarray
        Counts per pixel and channel.
    """
    ny, nx = (int(v) for v in spatial_shape)
    npix = ny * nx
    nch = int(channels / rebin_energy)
    if last_frame is None:
        last_frame = -1
    nframes = max(int(last_frame) - int(first_frame), 0) if last_frame >= 0 else None
    s = np.asarray(stream).ravel()
    if nframes is None:  # all frames: count them
        nframes = int(np.count_nonzero(s == _END_OF_PIXEL) // max(npix, 1)) + 1 - first_frame
    shape = (ny, nx, nch) if sum_frames else (nframes, ny, nx, nch)
    if spectrum_image is None:
        spectrum_image = np.zeros(shape, dtype=dtype if dtype is not None else np.uint16)
    flat_out = spectrum_image.reshape(-1)
    done = 0  # pixel separators seen before the current block
    for start in range(0, s.size, _BLOCK):
        block = s[start:start + _BLOCK]
        sep = block == _END_OF_PIXEL
        before = np.cumsum(sep, dtype=np.int64) - sep + done
        done += int(sep.sum())
        frame = before // npix
        keep = ~sep & (frame >= first_frame) & (block // rebin_energy < nch)
        if last_frame >= 0:
            keep &= frame < last_frame
        ch = block[keep].astype(np.int64) // rebin_energy
        pix = before[keep] % npix
        if sum_frames:
            idx = pix * nch + ch
        else:
            idx = ((frame[keep] - first_frame) * npix + pix) * nch + ch
        counts = np.bincount(idx, minlength=flat_out.size)
        flat_out += counts.astype(flat_out.dtype, copy=False)
    return spectrum_image


@contextlib.contextmanager
def _dense_stream_helper() -> Iterator[None]:
    name = "rsciio.utils._fei_stream_readers"
    saved = sys.modules.get(name)
    stub = types.ModuleType(name)
    stub.stream_to_array = stream_to_array  # type: ignore[attr-defined]
    sys.modules[name] = stub
    try:
        yield
    finally:
        if saved is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = saved


def read_velox_dense(path: Path) -> list[dict[str, Any]]:
    """Read a Velox EMD file, spectrum image included, without ``sparse`` (eagerly).

    Parameters
    ----------
    path : Path
        The ``.emd`` file.

    Returns
    -------
    list of dict
        RosettaSciIO signal dictionaries.
    """
    import h5py
    from rsciio.emd._emd_velox import FeiEMDReader

    class _DenseReader(FeiEMDReader):  # type: ignore[misc]
        def _read_data(self, select_type: Any) -> None:
            if self.im_type != "SpectrumStream":
                super()._read_data(select_type)
                return
            self.load_images = self.load_SI = self.load_single_spectrum = True
            self._read_single_spectrum()
            self._read_images()
            with _dense_stream_helper():
                self._read_spectrum_stream()

    with h5py.File(path, "r") as f:
        reader = _DenseReader(lazy=False)
        reader.read_file(f)
        return list(reader.dictionaries)
