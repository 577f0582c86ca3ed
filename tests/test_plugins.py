"""Plugins: discovery through entry points, isolation of broken plugins."""

import textwrap

import numpy as np
import pytest

import micrographia as mg
from micrographia.plugin_manager import PluginHost

GOOD = '''
from micrographia import hookimpl, Dataset

def negate(dataset: Dataset) -> Dataset:
    """Negate the values."""
    return dataset.replace(data=-dataset.numpy())

def explode(dataset: Dataset) -> Dataset:
    """Always fails."""
    raise RuntimeError("boom at run time")

@hookimpl
def micrographia_register(registry):
    registry.add(negate, id="thirdparty.negate", menu="Plugins/Third party")
    registry.add(explode, id="thirdparty.explode", menu="Plugins/Third party")
'''
BAD_IMPORT = "raise ImportError('missing dependency: libfoo')\n"
BAD_REGISTER = '''
from micrographia import hookimpl, Dataset

def fine(dataset: Dataset) -> Dataset:
    """Fine."""
    return dataset

@hookimpl
def micrographia_register(registry):
    registry.add(fine, id="halfway.fine", menu="Plugins")
    raise ValueError("bad registration")
'''
TYPO_HOOK = '''
from micrographia import hookimpl

@hookimpl
def micrographia_registr(registry):
    pass
'''


def _make_dist(site, dist, modules):
    info = site / f"{dist}-1.2.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
    lines = ["[micrographia.plugins]"]
    for mod, src in modules.items():
        (site / f"{mod}.py").write_text(textwrap.dedent(src))
        lines.append(f"{mod} = {mod}")
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")


@pytest.fixture
def plugin_site(tmp_path, monkeypatch):
    site = tmp_path / "site"
    _make_dist(site, "mg_thirdparty", {"mg_good_plugin": GOOD, "mg_bad_import": BAD_IMPORT,
                                       "mg_bad_register": BAD_REGISTER,
                                       "mg_typo_hook": TYPO_HOOK})
    monkeypatch.syspath_prepend(str(site))
    import importlib

    importlib.invalidate_caches()
    host = PluginHost()
    host.load_entry_points()
    return host


def test_broken_plugins_do_not_stop_the_others(plugin_site):
    host = plugin_site
    report = {p.name: p for p in host.report()}
    assert report["mg_good_plugin"].loaded
    assert report["mg_good_plugin"].distribution == "mg_thirdparty"
    assert report["mg_good_plugin"].version == "1.2.3"
    assert "missing dependency: libfoo" in report["mg_bad_import"].error
    assert "bad registration" in report["mg_bad_register"].error
    assert "micrographia_registr" in report["mg_typo_hook"].error
    # all or nothing: the half-registered plugin left no operation behind
    assert "halfway.fine" not in host.registry
    # built-ins load as plugins too
    assert report["builtin_filters"].loaded and "filters.gaussian" in host.registry
    assert "thirdparty.negate" in host.registry


def test_plugin_operation_runs_records_and_fails_cleanly(plugin_site, monkeypatch):
    import micrographia.plugin_manager as pm

    monkeypatch.setattr(pm, "_host", plugin_site)
    d = mg.from_array(np.arange(4.0).reshape(2, 2))
    with mg.recording() as rec:
        n = mg.run("thirdparty.negate", d)
        with pytest.raises(mg.OperationError, match="thirdparty.explode failed: RuntimeError: "
                                                    "boom at run time"):
            mg.run("thirdparty.explode", d)
        g = mg.run("filters.gaussian", n, sigma=0.5)  # the others still work
    np.testing.assert_array_equal(n.data, -d.data)
    assert 'mg.run("thirdparty.negate", d1)' in rec.text
    assert "explode" not in rec.text  # failures are not recorded
    assert g.shape == (2, 2)
    versions = mg.provenance.log_for(n)
    assert "mg_thirdparty 1.2.3" in versions


def test_register_plugin_in_code():
    host = PluginHost()

    class Plug:
        @mg.hookimpl
        def micrographia_register(self, registry):
            def double(dataset: mg.Dataset) -> mg.Dataset:
                """Double."""
                return dataset.replace(data=dataset.numpy() * 2)

            registry.add(double, id="inline.double", menu="Plugins")

    info = host.register_plugin(Plug(), name="inline")
    assert info.loaded and info.operations == ["inline.double"]


def test_cli_lists_plugins_and_failures(plugin_site, monkeypatch, capsys):
    import micrographia.plugin_manager as pm
    from micrographia.cli import main

    monkeypatch.setattr(pm, "_host", plugin_site)
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "ok      builtin_filters" in out
    assert "FAILED  mg_bad_import" in out and "libfoo" in out
    assert main(["plugins", "--strict"]) == 1
