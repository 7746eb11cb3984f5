"""The kernel cache on a hostile or careless machine (symcorr.codegen.cache): planted code never runs,
a swapped, truncated or modified entry is derived again with a warning, an unusable folder falls back
to a private one. Every planted payload would create a marker file if it ran."""
import os
import shutil

import numpy as np
import pytest
from builders import random_gaussian

from symcorr.codegen import cache
from symcorr.codegen.cache import KernelCacheWarning, entry_bytes
from symcorr.codegen.loader import _compiled, cache_directory
from symcorr.derivation import activations
from symcorr.derivation.engine import derivation_key

ACTIVATION = activations.quadratic(0.3)
KEY_22 = derivation_key(ACTIVATION, 2, 2, None)
KEY_23 = derivation_key(ACTIVATION, 2, 3, None)


@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("SYMCORR_CACHE", str(root))
    return root


def payload(marker) -> str:
    return f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n"


def entry_path(out_order=2, closure=2):
    found = list(cache_directory().glob(f"quadratic_order{out_order}_closure{closure}_*.py"))
    assert len(found) == 1, found
    return found[0]


def assert_right_numbers(module, closure=2):
    """The quadratic covariance of docs/theory.md section 5 at closure 2 (Gaussian input), by hand."""
    assert module.CLOSURE == closure and module.DERIVATION_KEY == derivation_key(ACTIVATION, 2, closure, None)
    mean, cov = random_gaussian(3, seed=4)
    kappa = (mean, cov) + ((np.zeros((3, 3, 3)),) if closure == 3 else ())
    alpha = 0.3
    expected = ((1 + 2 * alpha * mean)[:, None] * (1 + 2 * alpha * mean)[None, :] * cov
                + 2 * alpha**2 * cov**2)
    np.testing.assert_allclose(module.CUMULANTS[1](kappa, alpha), expected, rtol=1e-13, atol=1e-15)


def test_a_fresh_cache_is_private_and_verified(cache_root, recwarn):
    module = _compiled(ACTIVATION, 2, 2, None, KEY_22)
    assert_right_numbers(module)
    path = entry_path()
    assert (path.stat().st_mode & 0o777) == 0o600 and (path.parent.stat().st_mode & 0o777) == 0o700
    assert path.read_bytes().startswith(b"# symcorr kernel cache entry, sha256 ")
    assert_right_numbers(_compiled(ACTIVATION, 2, 2, None, KEY_22))  # read back, no warning
    assert not [w for w in recwarn if issubclass(w.category, KernelCacheWarning)]


def test_a_planted_init_py_is_never_imported(cache_root, tmp_path):
    marker = tmp_path / "init_ran"
    (cache_root / "kernels").mkdir(parents=True, mode=0o700)
    for folder in (cache_root, cache_root / "kernels"):
        (folder / "__init__.py").write_text(payload(marker))
    assert_right_numbers(_compiled(ACTIVATION, 2, 2, None, KEY_22))
    assert_right_numbers(_compiled(ACTIVATION, 2, 2, None, KEY_22))
    assert not marker.exists()


@pytest.mark.parametrize("damage, reason", [
    (lambda data: payload_bytes(), "has no integrity line"),
    (lambda data: b"", "has no integrity line"),
    (lambda data: data[: len(data) // 2], "does not match the SHA-256"),
    (lambda data: data + b"\nCUMULANTS = ()\n", "does not match the SHA-256"),
    (lambda data: data.partition(b"\n")[0] + b"\n" + payload_bytes(), "does not match the SHA-256"),
])
def test_a_damaged_entry_is_derived_again_never_executed(cache_root, tmp_path, damage, reason):
    _compiled(ACTIVATION, 2, 2, None, KEY_22)
    path = entry_path()
    path.write_bytes(damage(path.read_bytes()))
    with pytest.warns(KernelCacheWarning, match=f"cached kernel {path} {reason}.*; deriving it again"):
        module = _compiled(ACTIVATION, 2, 2, None, KEY_22)
    assert_right_numbers(module)
    assert not (tmp_path / "payload_ran").exists()
    assert_right_numbers(_compiled(ACTIVATION, 2, 2, None, KEY_22))  # the entry was replaced


def payload_bytes():
    return payload(payload_marker()).encode()


def payload_marker():
    return cache_directory().parent.parent / "payload_ran"


def test_another_derivations_kernel_swapped_in_is_derived_again(cache_root):
    _compiled(ACTIVATION, 2, 2, None, KEY_22)
    _compiled(ACTIVATION, 2, 3, None, KEY_23)
    shutil.copyfile(entry_path(2, 3), entry_path(2, 2))  # a valid entry, of the other derivation
    with pytest.warns(KernelCacheWarning, match="another derivation's kernel"):
        module = _compiled(ACTIVATION, 2, 2, None, KEY_22)
    assert_right_numbers(module, closure=2)


def test_a_folder_others_can_write_is_refused_even_with_valid_hashes(cache_root, tmp_path):
    # another user can compute the hash: the folder's permissions are what keeps them out
    marker = tmp_path / "shared_ran"
    _compiled(ACTIVATION, 2, 2, None, KEY_22)
    entry_path().write_bytes(entry_bytes(KEY_22, payload(marker) + f"DERIVATION_KEY = {KEY_22!r}\n"))
    cache_directory().chmod(0o777)
    with pytest.warns(KernelCacheWarning, match=r"writable by group or others \(mode drwxrwxrwx\).*private "
                                                r"temporary folder"):
        module = _compiled(ACTIVATION, 2, 2, None, KEY_22)
    assert_right_numbers(module)
    assert not marker.exists()
    assert module.__file__.startswith(str(cache.private_folder().path))


def test_an_entry_others_can_write_is_refused(cache_root, tmp_path):
    marker = tmp_path / "entry_ran"
    _compiled(ACTIVATION, 2, 2, None, KEY_22)
    path = entry_path()
    path.write_bytes(entry_bytes(KEY_22, payload(marker)))
    path.chmod(0o666)
    with pytest.warns(KernelCacheWarning, match="writable by group or others"):
        assert_right_numbers(_compiled(ACTIVATION, 2, 2, None, KEY_22))
    assert not marker.exists()
    assert (path.stat().st_mode & 0o777) == 0o600


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0, reason="changing a file's owner needs root")
def test_a_folder_or_entry_owned_by_another_user_is_refused(cache_root, tmp_path):
    marker = tmp_path / "owner_ran"
    _compiled(ACTIVATION, 2, 2, None, KEY_22)
    path = entry_path()
    path.write_bytes(entry_bytes(KEY_22, payload(marker)))
    os.chown(path, 12345, 12345)
    with pytest.warns(KernelCacheWarning, match="owned by uid 12345, not by the current user"):
        assert_right_numbers(_compiled(ACTIVATION, 2, 2, None, KEY_22))
    path.write_bytes(entry_bytes(KEY_22, payload(marker)))
    os.chown(path.parent, 12345, 12345)
    with pytest.warns(KernelCacheWarning, match="owned by uid 12345.*private temporary folder"):
        assert_right_numbers(_compiled(ACTIVATION, 2, 2, None, KEY_22))
    assert not marker.exists()


@pytest.mark.parametrize("make, reason", [
    (lambda root: root.write_text("not a folder"), "cannot be used as a folder"),
    (lambda root: (root.mkdir(), (root / "elsewhere").mkdir(mode=0o700),
                   (root / "kernels").symlink_to(root / "elsewhere")), "is a symbolic link"),
])
def test_a_cache_path_that_cannot_be_used_falls_back_to_a_private_folder(cache_root, make, reason):
    make(cache_root)
    with pytest.warns(KernelCacheWarning, match=f"{reason}.*using the private temporary folder"):
        module = _compiled(ACTIVATION, 2, 2, None, KEY_22)
    assert_right_numbers(module)
    private = cache.private_folder().path
    assert (private.stat().st_mode & 0o777) == 0o700 and module.__file__.startswith(str(private))


def test_a_read_only_cache_is_read_and_new_kernels_go_to_the_private_folder(cache_root, monkeypatch):
    _compiled(ACTIVATION, 2, 2, None, KEY_22)
    folder = cache_directory()
    if os.getuid() == 0:  # root writes to read-only folders: refuse the writes as a read-only file system would
        original = cache.CacheFolder.write_entry

        def read_only(self, name, data):
            if self.path == folder:
                raise OSError(30, "Read-only file system")
            return original(self, name, data)

        monkeypatch.setattr(cache.CacheFolder, "write_entry", read_only)
    else:
        folder.chmod(0o500)
    try:
        assert_right_numbers(_compiled(ACTIVATION, 2, 2, None, KEY_22))  # read: no warning needed
        with pytest.warns(KernelCacheWarning, match=r"cannot be written \(.*\); cached in the private"):
            assert_right_numbers(_compiled(ACTIVATION, 2, 3, None, KEY_23), closure=3)
    finally:
        folder.chmod(0o700)


def test_a_fifo_planted_as_an_entry_does_not_block(cache_root):
    _compiled(ACTIVATION, 2, 2, None, KEY_22)
    path = entry_path()
    path.unlink()
    os.mkfifo(path, 0o600)
    with pytest.warns(KernelCacheWarning, match="is not a regular file"):
        module = _compiled(ACTIVATION, 2, 2, None, KEY_22)
    assert_right_numbers(module)
