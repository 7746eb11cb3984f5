r"""The on-disk cache of kernels derived on first use: safe on a shared machine, safe to lose.

A kernel module is Python code, so whoever can write a cache entry can run code as whoever loads
it next. The cache therefore trusts a folder and an entry only when

* the folder (``$SYMCORR_CACHE/kernels``, see :func:`symcorr.codegen.loader.cache_directory`) is a
  real directory (not a symbolic link) owned by the current user and not writable by group or
  others; otherwise it is refused with the reason, and a private temporary folder (mode 0700,
  removed at exit) is used instead, with a :class:`KernelCacheWarning`. A path that cannot be
  created (a file in the way, no permission) or written (read-only) falls back the same way;
* the entry is a regular file with the same owner and permissions, and its first line carries the
  SHA-256 of the derivation key, the printer version (``CODEGEN_VERSION``) and the rest of the file.
  The hash is checked on the bytes read *before* anything is executed, and those same bytes are
  what is executed (no second read that could differ). A missing, truncated, empty or modified
  entry, or the kernel of another derivation copied into its place, fails the check and is
  derived again with a warning, never trusted.

The hash is not a secret: it detects damage and swapped entries; other users are kept out by the
ownership and permission checks (someone who can act as the current user can run code as that
user anyway). Cached kernels are single files with no package and no ``__init__.py``: a planted
``__init__.py`` in the cache is never imported. Folder and entries are opened relative to a file
descriptor of the checked folder (``dir_fd``, ``O_NOFOLLOW``), so renaming the folder after the
check does not redirect the reads or writes.
"""
from __future__ import annotations

import atexit
import contextlib
import errno
import hashlib
import hmac
import os
import shutil
import stat
import tempfile
import types
import warnings
from pathlib import Path

from symcorr.codegen.printer import CODEGEN_VERSION

MAX_ENTRY_BYTES = 64 * 2**20
"""Largest cache entry read (the largest shipped kernel has 52 KB)."""

_INTEGRITY_PREFIX = b"# symcorr kernel cache entry, sha256 "
_private_folder: Path | None = None


class KernelCacheWarning(UserWarning):
    """The kernel cache (a folder or an entry) was not used; the message says why and what instead."""


class CacheUnusable(OSError):
    """A cache folder that must not or cannot be used (the message says why)."""


def entry_digest(key: str, body: bytes) -> str:
    """SHA-256 of the derivation ``key``, :data:`~symcorr.codegen.printer.CODEGEN_VERSION` and ``body``."""
    hasher = hashlib.sha256(b"symcorr kernel\0")
    hasher.update(key.encode() + b"\0" + str(CODEGEN_VERSION).encode() + b"\0")
    hasher.update(body)
    return hasher.hexdigest()


def entry_bytes(key: str, source: str) -> bytes:
    """The cache entry of a kernel module ``source``: the integrity line, then the source."""
    body = source.encode()
    return _INTEGRITY_PREFIX + entry_digest(key, body).encode() + b"\n" + body


def _trust_problem(status: os.stat_result, what: str) -> str | None:
    """Why a file or folder with ``status`` must not be trusted, or None."""
    if status.st_uid != os.getuid():
        return f"{what} is owned by uid {status.st_uid}, not by the current user (uid {os.getuid()})"
    if status.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return (f"{what} is writable by group or others (mode {stat.filemode(status.st_mode)}); "
                "another user could plant code in it")
    return None


class CacheFolder:
    """A checked cache folder, used through a file descriptor (see the module docstring)."""

    def __init__(self, path: Path, descriptor: int):
        self.path = path
        self.descriptor = descriptor

    def close(self) -> None:
        os.close(self.descriptor)

    def __enter__(self) -> "CacheFolder":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def read_entry(self, name: str, key: str) -> tuple[bytes | None, str | None]:
        """``(source, None)`` for a trusted entry, ``(None, None)`` when there is none, and
        ``(None, reason)`` for an entry that must not be trusted."""
        try:
            descriptor = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=self.descriptor)
        except FileNotFoundError:
            return None, None
        except OSError as error:
            return None, f"cannot be opened ({error.strerror or error})"
        with os.fdopen(descriptor, "rb") as stream:
            status = os.fstat(stream.fileno())
            if not stat.S_ISREG(status.st_mode):
                return None, "is not a regular file"
            problem = _trust_problem(status, "it")
            if problem:
                return None, problem
            if status.st_size > MAX_ENTRY_BYTES:
                return None, f"holds {status.st_size} bytes, more than a kernel ({MAX_ENTRY_BYTES})"
            data = stream.read(MAX_ENTRY_BYTES + 1)
        line, newline, body = data.partition(b"\n")
        if not newline or not line.startswith(_INTEGRITY_PREFIX):
            return None, "has no integrity line (empty, truncated, or not written by symcorr)"
        recorded = line[len(_INTEGRITY_PREFIX):].decode("ascii", "replace")
        if not hmac.compare_digest(recorded, entry_digest(key, body)):
            return None, ("does not match the SHA-256 of its derivation key and content (a truncated or "
                          "modified file, or another derivation's kernel)")
        return body, None

    def write_entry(self, name: str, data: bytes) -> None:
        """Write ``data`` to a new private file (mode 0600) and rename it over ``name``."""
        temporary = f".{name}.{os.getpid()}.{os.urandom(6).hex()}.tmp"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600,
                             dir_fd=self.descriptor)
        try:
            with os.fdopen(descriptor, "wb") as stream:
                stream.write(data)
            os.replace(temporary, name, src_dir_fd=self.descriptor, dst_dir_fd=self.descriptor)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary, dir_fd=self.descriptor)
            raise


def open_folder(path: Path) -> CacheFolder:
    """The cache folder ``path`` (created with mode 0700 if missing) after the checks of the module
    docstring; :class:`CacheUnusable` naming the reason otherwise."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENOTDIR) and os.path.islink(path):
            raise CacheUnusable(f"{path} is a symbolic link") from None
        raise CacheUnusable(f"{path} cannot be used as a folder ({error.strerror or error})") from None
    problem = _trust_problem(os.fstat(descriptor), str(path))
    if problem:
        os.close(descriptor)
        raise CacheUnusable(problem)
    return CacheFolder(path, descriptor)


def private_folder() -> CacheFolder:
    """This process's private temporary cache folder (mode 0700, removed at exit)."""
    global _private_folder
    if _private_folder is None or not _private_folder.is_dir():
        _private_folder = Path(tempfile.mkdtemp(prefix="symcorr-kernels-"))
        atexit.register(shutil.rmtree, _private_folder, ignore_errors=True)
    return open_folder(_private_folder)


def warn(message: str) -> None:
    """Issue a :class:`KernelCacheWarning` (shown to the user of ``symcorr``, caught by tests)."""
    warnings.warn(f"symcorr: {message}", KernelCacheWarning, stacklevel=4)


def usable_folder(path: Path) -> CacheFolder:
    """The checked cache folder ``path``, or (with a warning naming the reason) the private one."""
    try:
        return open_folder(path)
    except CacheUnusable as error:
        folder = private_folder()
        warn(f"kernel cache not used: {error}; using the private temporary folder {folder.path} "
             "(removed at exit) instead")
        return folder


def module_from_source(source: bytes, path: Path, name: str) -> types.ModuleType:
    """Execute the kernel ``source`` (already verified) as a new module ``name`` (not in ``sys.modules``)."""
    module = types.ModuleType(name)
    module.__file__ = str(path)
    exec(compile(source, str(path), "exec", dont_inherit=True), module.__dict__)  # noqa: S102 - verified kernel
    return module


def load_or_create(path: Path, name: str, key: str, module_name: str, create) -> types.ModuleType:
    """The kernel module cached as ``name`` in the folder ``path`` for derivation ``key``.

    A trusted entry is executed; otherwise ``create()`` returns the module source, which is stored
    (in the private folder, with a warning, when ``path`` cannot be written) and executed from
    memory. Untrusted entries are reported with a :class:`KernelCacheWarning` and replaced.
    """
    with usable_folder(path) as folder:
        source, problem = folder.read_entry(name, key)
        if source is not None:
            module = module_from_source(source, folder.path / name, module_name)
            if getattr(module, "DERIVATION_KEY", None) == key:
                return module
            problem = "records another derivation key"  # pragma: no cover - the hash covers the key
        if problem:
            warn(f"cached kernel {folder.path / name} {problem}; deriving it again")
        data = entry_bytes(key, create())
        try:
            folder.write_entry(name, data)
            where = folder.path / name
        except OSError as error:
            with private_folder() as fallback:
                fallback.write_entry(name, data)
                where = fallback.path / name
            warn(f"kernel cache {folder.path} cannot be written ({error.strerror or error}); "
                 f"cached in the private temporary folder {where.parent} (removed at exit) instead")
        body = data.partition(b"\n")[2]
        return module_from_source(body, where, module_name)


__all__ = ["KernelCacheWarning", "CacheUnusable", "CacheFolder", "MAX_ENTRY_BYTES", "entry_digest", "entry_bytes",
           "open_folder", "private_folder", "usable_folder", "module_from_source", "load_or_create"]
