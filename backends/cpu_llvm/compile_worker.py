"""The LLVM compile worker: a child process that turns IR into object code for ``engine`` (``build``).

llvmlite's pass builder keeps ~60 KB per optimisation run that nothing frees, so the process running user
code never runs LLVM's pipeline: a worker does, and is replaced after ``RECYCLE_AFTER`` builds, which gives
that memory back. An LLVM abort on bad IR ends the worker, not the user's process (it is reported as an
error of the compile). Run as a script (``python compile_worker.py``), it imports only ``llvm_build``.

Where no worker can start (no subprocesses, or an interpreter that cannot import llvmlite), LLVM runs in this
process instead, with a warning.

Protocol on the pipes, little-endian: the worker first sends ``R`` (ready); a request is ``u32 length`` +
UTF-8 text of ``suffix\\nname,name\\npipeline\\nIR`` (pipeline: ``unroll`` or ``lean``, see ``llvm_build``);
the reply is ``u8 status`` (0: object code, 1: error text) + ``u32 length`` + bytes.
"""
from __future__ import annotations

import os
import struct
import subprocess
import sys
import tempfile
import threading
import warnings

RECYCLE_AFTER = 256  # builds per worker (its LLVM leak is then ~15 MB, returned when it exits)
_U32 = struct.Struct("<I")
_READY = b"R"  # the worker's first byte: it has imported LLVM and takes requests
_PIPELINES = {True: "unroll", False: "lean"}  # a request's pipeline line (``unroll`` argument)


def _read(stream, n: int) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise EOFError
    return data


class CompileWorker:
    """A worker process used by one thread at a time; restarted when it dies or after RECYCLE_AFTER builds."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        self._builds = 0
        self._lock = threading.Lock()
        self._in_process = False  # no worker could be started here: LLVM runs in this process

    def _start(self) -> subprocess.Popen | None:
        """A new worker, ready (it has imported LLVM); None, with a warning, when none can run here."""
        self.close()
        self._builds = 0
        self._stderr = tempfile.TemporaryFile()  # a file, not a pipe: a chatty worker must never block on it
        try:
            self._proc = subprocess.Popen([sys.executable, os.path.abspath(__file__)], stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, stderr=self._stderr)
            if _read(self._proc.stdout, 1) == _READY:
                return self._proc
        except (OSError, EOFError, ValueError):
            pass
        self._stderr.seek(0)
        why = self._stderr.read().decode(errors="replace").strip().splitlines()[-1:] or ["it did not start"]
        self.close()
        self._in_process = True
        warnings.warn(f"portax cpu_llvm: no LLVM compile worker can run here ({why[0]}); compiling in this process, "
                      "where llvmlite keeps ~60 KB per compile", RuntimeWarning, stacklevel=4)
        return None

    def build(self, ir: str, names: list[str], suffix: str, unroll: bool = True) -> bytes:
        """Object code for ``ir`` (see ``llvm_build.build_object``); RuntimeError with LLVM's message on failure."""
        request = f"{suffix}\n{','.join(names)}\n{_PIPELINES[unroll]}\n{ir}".encode()
        with self._lock:
            proc = self._proc
            if not self._in_process and (proc is None or proc.poll() is not None or self._builds >= RECYCLE_AFTER):
                proc = self._start()
            if self._in_process:
                from .llvm_build import build_object
                return build_object(ir, names, suffix, unroll)
            self._builds += 1
            try:
                proc.stdin.write(_U32.pack(len(request)) + request)
                proc.stdin.flush()
                status = _read(proc.stdout, 1)[0]
                payload = _read(proc.stdout, _U32.unpack(_read(proc.stdout, 4))[0])
            except (EOFError, OSError, ValueError):  # a dead worker: broken pipe, closed file, short read
                proc.kill()
                self._stderr.seek(0)
                err = self._stderr.read().decode(errors="replace").strip()[-2000:]
                self._proc = None
                raise RuntimeError(f"cpu_llvm: the LLVM compile worker died (exit status {proc.wait()}) "
                                   f"compiling {', '.join(names)}: {err or 'no message'}") from None
        if status:
            raise RuntimeError(f"cpu_llvm: LLVM failed to compile {', '.join(names)}: {payload.decode()}")
        return payload

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.stdin.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def _serve() -> None:
    import llvm_build
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    out.write(_READY)
    out.flush()
    while True:
        try:
            request = _read(inp, _U32.unpack(_read(inp, 4))[0]).decode()
        except EOFError:
            return
        suffix, names, pipeline, ir = request.split("\n", 3)
        try:
            status, payload = 0, llvm_build.build_object(ir, [n for n in names.split(",") if n], suffix,
                                                         pipeline == _PIPELINES[True])
        except Exception as e:  # LLVM's parse/verify errors go back to the caller
            status, payload = 1, f"{type(e).__name__}: {e}".encode()
        out.write(bytes([status]) + _U32.pack(len(payload)) + payload)
        out.flush()


if __name__ == "__main__":
    _serve()
