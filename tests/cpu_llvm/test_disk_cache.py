"""cpu_llvm disk compile cache: entries are checked against their key and authenticated with the user's
secret, folders and files others could write are refused, so a swapped, corrupt or planted entry is a miss
(recompiled, right result), never code that runs. "Later process" cases run in subprocesses."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import struct
import subprocess
import sys

import pytest

from portax.backends.cpu_llvm import cache, engine

FN_IR = """
define double @f(double %x) {{
  %y = fadd double %x, {c}
  ret double %y
}}
"""

CHILD = """
import ctypes, json, sys
from portax.backends.cpu_llvm import engine
fn = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_double)
results = [fn(engine.compile(ir, ["f"])["f"])(1.0) for ir in sys.argv[1:]]
print(json.dumps(dict(engine.stats(), results=results)))
"""

WARNING = "not using the disk compile cache"
OTHER_UID = 12345
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="os.chown to another user needs root")


def run(tmp_path, *constants: str) -> tuple[dict, str]:
    """Compile and call ``x + c`` for each constant in a fresh process; its engine stats, results and stderr."""
    env = dict(os.environ, PORTAX_CACHE_DIR=str(tmp_path / "cache"), XDG_CONFIG_HOME=str(tmp_path / "config"))
    env.pop("PORTAX_DISABLE_DISK_CACHE", None)
    out = subprocess.run([sys.executable, "-W", "always", "-c", CHILD, *(FN_IR.format(c=c) for c in constants)],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.splitlines()[-1]), out.stderr


def entry_of(tmp_path, c: str):
    return tmp_path / "cache" / "cpu_llvm" / f"{engine.cache_key(FN_IR.format(c=c), ['f'])}.o"


def assert_recompiled(tmp_path, c: str, expected: float) -> None:
    """A fresh process misses, recompiles to the right result and rewrites the entry; the next one hits it."""
    stats, _ = run(tmp_path, c)
    assert (stats["compiles"], stats["disk_hits"], stats["results"]) == (1, 0, [expected])
    stats, _ = run(tmp_path, c)
    assert (stats["compiles"], stats["disk_hits"], stats["results"]) == (0, 1, [expected])


@pytest.fixture
def in_process(tmp_path, monkeypatch):
    """Point this process's cache and config folders where the children's are."""
    monkeypatch.setenv("PORTAX_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("PORTAX_DISABLE_DISK_CACHE", raising=False)


def test_folders_0700_key_0600_and_usage(tmp_path, in_process):
    stats, _ = run(tmp_path, "7.0", "9.0")
    assert (stats["compiles"], stats["results"]) == (2, [8.0, 10.0])
    for folder in (tmp_path / "cache", tmp_path / "cache" / "cpu_llvm", tmp_path / "config" / "portax"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    key = tmp_path / "config" / "portax" / "cache.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and key.stat().st_size == cache.SECRET_BYTES
    entries = sorted((tmp_path / "cache" / "cpu_llvm").iterdir())
    assert entries == sorted([entry_of(tmp_path, "7.0"), entry_of(tmp_path, "9.0")])
    assert cache.usage() == (tmp_path / "cache" / "cpu_llvm", sum(e.stat().st_size for e in entries), 2)
    stats, _ = run(tmp_path, "7.0", "9.0")
    assert (stats["compiles"], stats["disk_hits"], stats["results"]) == (0, 2, [8.0, 10.0])


def test_entry_swapped_with_another_valid_entry_recompiles(tmp_path):
    run(tmp_path, "7.0", "9.0")
    shutil.copyfile(entry_of(tmp_path, "9.0"), entry_of(tmp_path, "7.0"))
    assert_recompiled(tmp_path, "7.0", 8.0)


def test_authentic_entry_without_the_functions_recompiles(tmp_path, in_process):
    run(tmp_path, "9.0")
    key = entry_of(tmp_path, "7.0").stem
    assert cache.store(key, cache.load(entry_of(tmp_path, "9.0").stem))  # 9.0's object under 7.0's key
    assert_recompiled(tmp_path, "7.0", 8.0)


def test_truncated_garbage_or_non_file_entries_are_misses(tmp_path):
    run(tmp_path, "7.0")
    entry = entry_of(tmp_path, "7.0")
    good = entry.read_bytes()
    for bad in (good[:len(good) // 2], good[:-1] + bytes([good[-1] ^ 1]), b"", os.urandom(len(good)), "link"):
        entry.unlink()
        if bad == "link":  # a symlink, even to a good entry, is not followed
            (tmp_path / "elsewhere.o").write_bytes(good)
            entry.symlink_to(tmp_path / "elsewhere.o")
        else:
            entry.write_bytes(bad)
        assert_recompiled(tmp_path, "7.0", 8.0)
        assert entry.read_bytes() == good and not entry.is_symlink()


def planted_object(key: str, c: str) -> bytes:
    """Object code exporting ``key``'s function name but computing ``x + c``: what an attacker would plant."""
    mod = engine.optimize(FN_IR.format(c=c), ["f"])
    mod.get_function("f").name = f"f.{key[:16]}"
    return engine.target_machine().emit_object(mod)


def test_planted_entry_without_the_users_hmac_never_runs(tmp_path):
    run(tmp_path, "9.0")  # creates the folders and the user's key
    entry = entry_of(tmp_path, "7.0")
    evil = planted_object(entry.stem, "1000.0")
    old_format = b"PTXOBJ\x01\n" + struct.pack("<Q", len(evil)) + hashlib.sha256(evil).digest() + evil
    for planted in (old_format, cache.pack_entry(os.urandom(cache.SECRET_BYTES), entry.stem, evil)):
        entry.write_bytes(planted)
        assert_recompiled(tmp_path, "7.0", 8.0)
    # control: with the user's own secret the same object would be loaded and run
    secret = (tmp_path / "config" / "portax" / "cache.key").read_bytes()
    entry.write_bytes(cache.pack_entry(secret, entry.stem, evil))
    stats, _ = run(tmp_path, "7.0")
    assert (stats["disk_hits"], stats["results"]) == (1, [1001.0])


def test_entry_open_to_others_is_a_miss(tmp_path):
    run(tmp_path, "7.0")
    entry_of(tmp_path, "7.0").chmod(0o666)
    assert_recompiled(tmp_path, "7.0", 8.0)


@root_only
def test_entry_owned_by_another_user_is_a_miss(tmp_path):
    run(tmp_path, "7.0")
    os.chown(entry_of(tmp_path, "7.0"), OTHER_UID, -1)
    assert_recompiled(tmp_path, "7.0", 8.0)
    assert entry_of(tmp_path, "7.0").stat().st_uid == os.geteuid()


def make_world_writable(path):
    path.chmod(0o777)


def make_group_writable(path):
    path.chmod(0o770)


def give_to_another_user(path):
    if os.geteuid() != 0:
        pytest.skip("os.chown to another user needs root")
    os.chown(path, OTHER_UID, -1)


@pytest.mark.parametrize("folder", ["cache", "cache/cpu_llvm"])
@pytest.mark.parametrize("spoil", [make_world_writable, make_group_writable, give_to_another_user])
def test_folder_others_can_write_is_refused_with_one_warning(tmp_path, folder, spoil):
    run(tmp_path, "7.0")
    spoil(tmp_path / folder)
    before = sorted((tmp_path / "cache" / "cpu_llvm").iterdir())
    stats, err = run(tmp_path, "7.0", "9.0")
    assert (stats["compiles"], stats["disk_hits"], stats["results"]) == (2, 0, [8.0, 10.0])
    assert err.count(WARNING) == 1 and str(tmp_path / folder) in err, err
    assert sorted((tmp_path / "cache" / "cpu_llvm").iterdir()) == before  # nothing written either


@pytest.mark.parametrize("spoil", [lambda key: key.chmod(0o644), give_to_another_user])
def test_key_file_others_can_access_is_refused_with_one_warning(tmp_path, spoil):
    run(tmp_path, "7.0")
    key = tmp_path / "config" / "portax" / "cache.key"
    spoil(key)
    stats, err = run(tmp_path, "7.0", "9.0")
    assert (stats["compiles"], stats["disk_hits"], stats["results"]) == (2, 0, [8.0, 10.0])
    assert err.count(WARNING) == 1 and str(key) in err, err
