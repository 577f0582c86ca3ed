"""Start-up is what users notice first: importing micrographia stays light."""

import subprocess
import sys

HEAVY = ("scipy", "dask", "h5py", "rsciio", "skimage", "sklearn", "distributed", "cupy",
         "tifffile", "imageio", "PIL")


def test_import_micrographia_is_light():
    code = ("import sys, micrographia as mg; mg.Dataset; mg.Axis; mg.Table; mg.hookimpl; "
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]", f"heavy modules imported at start-up: {r.stdout}"


def test_listing_operations_does_not_import_compute_libraries():
    """Plugins register declaratively: listing the menu must not import scipy or skimage."""
    code = ("import sys, micrographia as mg; ops = mg.operations(); "
            "print(len(ops), sorted({m.split('.')[0] for m in sys.modules} & "
            "{'scipy', 'skimage', 'sklearn', 'rsciio', 'h5py', 'cupy'}))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    n, mods = r.stdout.strip().split(" ", 1)
    assert int(n) >= 6 and mods == "[]", r.stdout
