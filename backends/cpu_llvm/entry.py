"""Entering a compiled program with its buffers' addresses read by generated code.

``enter(argv, arrays)`` writes the data address of each numpy array of the tuple ``arrays`` into
``argv[0:len(arrays)]`` and calls ``main(argv)``: one ctypes call per run, where reading each address from Python
(``ctypes.c_char.from_buffer``) costs ~0.2 us. ``main`` and the address of the type ``ndarray`` sit in the two
slots before ``argv`` (``new_argv``), so the call converts two arguments only. The code reads CPython's tuple size
and items and numpy's ``PyArrayObject.data`` (what numpy's ``PyArray_DATA`` reads: the field after the object
header) at offsets taken from the running interpreter. It returns 1 without calling ``main`` if an item's type is
not exactly ``ndarray``, else 0. ``get()`` checks it against ``ndarray.ctypes.data`` once and returns None if the
layout differs here (callers then write the addresses themselves).
"""
from __future__ import annotations

import ctypes
import functools
from typing import Callable

import numpy as np

from . import engine

ENTER = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.py_object)
_PTR = ctypes.sizeof(ctypes.c_void_p)
HEADER = 2  # slots before argv: main, the type ndarray

# TYPE: offset of an object's type (PyObject.ob_type, the header's last field), SIZE: of a tuple's size
# (PyVarObject.ob_size, after the header), ITEMS: of its first item (PyTupleObject.ob_item), DATA: of
# PyArrayObject.data (after the header)
_IR = """
define i32 @enter(ptr %argv, ptr %arrays) {
entry:
  %main_slot = getelementptr inbounds ptr, ptr %argv, i64 -2
  %main = load ptr, ptr %main_slot
  %type_slot = getelementptr inbounds ptr, ptr %argv, i64 -1
  %ndarray = load ptr, ptr %type_slot
  %size_field = getelementptr inbounds i8, ptr %arrays, i64 {SIZE}
  %n = load i64, ptr %size_field
  %items = getelementptr inbounds i8, ptr %arrays, i64 {ITEMS}
  %any = icmp sgt i64 %n, 0
  br i1 %any, label %fill, label %call
fill:
  %i = phi i64 [ 0, %entry ], [ %next, %filled ]
  %item = getelementptr inbounds ptr, ptr %items, i64 %i
  %array = load ptr, ptr %item
  %type_field = getelementptr inbounds i8, ptr %array, i64 {TYPE}
  %type = load ptr, ptr %type_field
  %exact = icmp eq ptr %type, %ndarray
  br i1 %exact, label %filled, label %refuse
filled:
  %field = getelementptr inbounds i8, ptr %array, i64 {DATA}
  %data = load ptr, ptr %field
  %slot = getelementptr inbounds ptr, ptr %argv, i64 %i
  store ptr %data, ptr %slot
  %next = add nsw i64 %i, 1
  %more = icmp slt i64 %next, %n
  br i1 %more, label %fill, label %call
call:
  call void %main(ptr %argv)
  ret i32 0
refuse:
  ret i32 1
}
"""
_NOOP = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


def new_argv(n_slots: int, main: int) -> tuple[ctypes.Array, ctypes.Array]:
    """``(block, argv)``: ``n_slots`` null pointers ``argv``, a view into ``block`` after its header slots
    (``main`` and the type ``ndarray``)."""
    block = (ctypes.c_void_p * (HEADER + n_slots))(main, id(np.ndarray))  # (CPython: an id is an address)
    return block, (ctypes.c_void_p * n_slots).from_buffer(block, HEADER * _PTR)


def copy_argv(block: ctypes.Array, n_slots: int) -> tuple[ctypes.Array, int]:
    """A copy of ``block``'s argv and its address."""
    argv = (ctypes.c_void_p * n_slots).from_buffer(type(block).from_buffer_copy(block), HEADER * _PTR)
    return argv, ctypes.addressof(argv)


@functools.cache
def get() -> Callable[[int, tuple], int] | None:
    """The compiled ``enter`` (a ctypes function), or None if the offsets do not read numpy's addresses here."""
    header = object.__basicsize__
    offsets = {"{TYPE}": header - _PTR, "{SIZE}": header, "{ITEMS}": tuple.__basicsize__, "{DATA}": header}
    ir_text = _IR
    for name, offset in offsets.items():
        ir_text = ir_text.replace(name, str(offset))
    enter = ENTER(engine.compile(ir_text, ["enter"])["enter"])
    probe = (np.zeros(3), np.zeros((2, 2), np.float32)[1:], np.zeros(0, np.uint8))
    noop = _NOOP(lambda _: None)
    block, argv = new_argv(len(probe), ctypes.cast(noop, ctypes.c_void_p).value)
    ok = enter(ctypes.addressof(argv), probe) == 0 and list(argv) == [a.ctypes.data for a in probe] and \
        enter(ctypes.addressof(argv), (probe[0], np.ma.zeros(1))) == 1
    return enter if ok else None
