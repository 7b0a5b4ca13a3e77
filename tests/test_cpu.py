"""The free-core measurement that sizes torch's thread pool while ingesting on a shared machine."""
from __future__ import annotations

import os

import pytest

import rag.cpu
from rag.cpu import FreeCores

TICK = os.sysconf("SC_CLK_TCK")


class FakeMachine:
    """A /proc/stat of 2 CPUs and the clocks FreeCores reads, advanced by hand."""

    def __init__(self, tmp_path, monkeypatch, cpus: int = 2) -> None:
        self.path = tmp_path / "stat"
        self.cpus = cpus
        self.busy = self.idle = 0.0  # seconds, all CPUs together
        self.wall = 100.0
        self.own = 0.0
        monkeypatch.setattr(rag.cpu, "PROC_STAT", self.path)
        monkeypatch.setattr(rag.cpu, "_cores", lambda: 2)
        monkeypatch.setattr(rag.cpu.time, "monotonic", lambda: self.wall)
        monkeypatch.setattr(rag.cpu.time, "process_time", lambda: self.own)
        self.write()

    def write(self) -> None:
        busy, idle = int(self.busy * TICK), int(self.idle * TICK)
        lines = [f"cpu  {busy} 0 0 {idle} 0 0 0 0 0 0"] + [f"cpu{i} 0 0 0 0 0 0 0 0 0 0" for i in range(self.cpus)]
        self.path.write_text("\n".join(lines) + "\n")

    def run(self, seconds: float, others: float, own: float) -> None:
        """`seconds` pass with other processes using `others` cores and this one `own` cores."""
        self.wall += seconds
        self.busy += (others + own) * seconds
        self.idle += (2 - others - own) * seconds
        self.own += own * seconds
        self.write()


@pytest.mark.parametrize("others, own, free", [(0.0, 1.0, 2), (0.0, 2.0, 2), (1.0, 1.0, 1), (0.9, 1.1, 1), (0.3, 1.0, 2), (2.0, 0.0, 1)])
def test_free_cores_leave_out_what_other_processes_use(tmp_path, monkeypatch, others, own, free):
    machine = FakeMachine(tmp_path, monkeypatch)
    cores = FreeCores()
    machine.run(5.0, others, own)
    assert cores.free() == free


def test_a_neighbour_that_stops_gives_its_core_back(tmp_path, monkeypatch):
    machine = FakeMachine(tmp_path, monkeypatch)
    cores = FreeCores()
    machine.run(5.0, 1.0, 1.0)
    assert cores.free() == 1
    machine.run(5.0, 0.0, 1.0)
    assert cores.free() == 2


def test_unmeasurable_means_all_cores(tmp_path, monkeypatch):
    machine = FakeMachine(tmp_path, monkeypatch, cpus=64)  # a container seeing the host's CPUs
    cores = FreeCores()
    machine.run(5.0, 1.0, 1.0)
    assert cores.free() == 2
    monkeypatch.setattr(rag.cpu, "PROC_STAT", tmp_path / "absent")
    assert FreeCores().free() == 2
