"""portax.distributed in a single process (no mpirun): one process of index 0, its own devices, and clear
errors for what needs initialize() or mpirun. Runs across processes are in tests/multiprocess."""
import numpy as np
import pytest

import portax
from portax.experimental import multihost_utils


def test_one_process_without_initialize():
    assert (portax.process_index(), portax.process_count()) == (0, 1)
    assert not portax.distributed.is_initialized()
    assert portax.local_devices() == portax.devices()
    assert portax.local_device_count() == portax.device_count() == len(portax.devices())
    assert all(d.process_index == 0 for d in portax.devices())
    assert portax.local_devices(process_index=0) == portax.devices()


def test_unknown_process_index_is_an_error():
    with pytest.raises(ValueError, match="Unknown process_index 1: there are 1 processes"):
        portax.local_devices(process_index=1)


def test_exchanges_in_one_process(monkeypatch):
    for var in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"):
        monkeypatch.delenv(var, raising=False)
    np.testing.assert_array_equal(multihost_utils.process_allgather(np.arange(3)), [[0, 1, 2]])
    np.testing.assert_array_equal(multihost_utils.process_allgather(np.arange(3), tiled=True), [0, 1, 2])
    np.testing.assert_array_equal(multihost_utils.broadcast_one_to_all({"a": np.ones(2)})["a"], [1, 1])
    multihost_utils.sync_global_devices("one process")
    multihost_utils.assert_equal(np.arange(2))


def test_exchanges_before_initialize_under_mpirun_are_errors(monkeypatch):
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "2")
    monkeypatch.setenv("OMPI_COMM_WORLD_RANK", "0")
    for call in (lambda: multihost_utils.process_allgather(np.zeros(2)),
                 lambda: multihost_utils.sync_global_devices("x"),
                 lambda: multihost_utils.broadcast_one_to_all(np.zeros(2))):
        with pytest.raises(RuntimeError, match=r"initialize\(\) must be called before any collective across"):
            call()


def test_several_processes_need_mpirun(monkeypatch):
    for var in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ValueError, match="num_processes=2 but this process was not started by mpirun"):
        portax.distributed.initialize("localhost:1234", num_processes=2, process_id=0)
    assert not portax.distributed.is_initialized()


def test_shutdown_without_initialize_is_a_no_op():
    portax.distributed.shutdown()
    assert portax.process_count() == 1
