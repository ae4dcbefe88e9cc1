"""GPU timing of dispatches for the profiler, from timestamp queries (the adapter's ``timestamp-query`` feature).

A timed ``CommandBatch`` gives each dispatch its own compute pass whose beginning and end write into a
query set; on submit the queries are resolved into one buffer, read back after the batch ran. Times are
placed on the host's ``perf_counter_ns`` clock by starting the batch's first dispatch at its submit time
(durations and gaps are the GPU's own; timestamps are taken as ns, WebGPU's unit). Without the feature,
each batch is timed on the host (submit to completion) and its dispatches share that time evenly.
"""
from __future__ import annotations

import time

import numpy as np
import wgpu

_RESOLVE_ALIGN = 256  # WebGPU: resolveQuerySet's destinationOffset is a multiple of 256


class DispatchTimer:
    """The timestamp queries of one batch's dispatches and their labels (name, bytes, flops)."""

    def __init__(self, device) -> None:
        self.device = device
        self.gpu = device.capabilities.has_timestamps
        self.labels: list[tuple] = []
        self._query_sets: list = []
        self._resolved = None
        self.submitted_ns = 0

    def pass_descriptor(self, label: tuple) -> dict:
        """``begin_compute_pass`` keyword arguments for the next dispatch (timestamp writes if available)."""
        self.labels.append(label)
        if not self.gpu:
            return {}
        qs = self.device.raw.create_query_set(type="timestamp", count=2)
        self._query_sets.append(qs)
        return {"timestamp_writes": {"query_set": qs, "beginning_of_pass_write_index": 0,
                                     "end_of_pass_write_index": 1}}

    def resolve(self, encoder) -> None:
        """Record the copy of every query into the resolve buffer (before the encoder finishes)."""
        self.submitted_ns = time.perf_counter_ns()
        if not self._query_sets:
            return
        self._resolved = self.device.raw.create_buffer(
            size=_RESOLVE_ALIGN * len(self._query_sets),
            usage=wgpu.BufferUsage.QUERY_RESOLVE | wgpu.BufferUsage.COPY_SRC)
        for k, qs in enumerate(self._query_sets):
            encoder.resolve_query_set(qs, 0, 2, self._resolved, _RESOLVE_ALIGN * k)

    def events(self) -> list[tuple]:
        """``(label, start_ns, dur_ns)`` per dispatch, on the host clock (waits for the batch)."""
        if not self.labels:
            return []
        if self._resolved is None:  # host timing: the batch from its submit until it is done
            start = self.submitted_ns or time.perf_counter_ns()
            self.device.raw.queue.on_submitted_work_done_sync()
            share = (time.perf_counter_ns() - start) // len(self.labels)
            return [(label, start + k * share, share) for k, label in enumerate(self.labels)]
        raw = np.frombuffer(self.device.raw.queue.read_buffer(self._resolved), np.uint64)
        stamps = raw.reshape(len(self._query_sets), _RESOLVE_ALIGN // 8)[:, :2].astype(np.int64)
        base = int(stamps[0, 0])
        return [(label, self.submitted_ns + int(b) - base, max(int(e) - int(b), 0))
                for label, (b, e) in zip(self.labels, stamps)]
