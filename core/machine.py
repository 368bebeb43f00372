"""What this machine can give: CPU cores for threads, memory for big jobs. Torch-free.

One place for the limits every part applies before it asks the system for resources, so that a
setting or a command-line option (``--threads 100000``) or a model's size is checked against the
machine with a sentence for the user, instead of being found out by a process that grows until
the system kills it.
"""

from __future__ import annotations

import os
import sys
import time

from core.units import human_bytes


def cpu_count() -> int:
    """The cores this process may run on (its affinity mask where the system has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def limit_threads(threads: object, what: str = "threads") -> tuple[int, str]:
    """``threads`` checked and clamped to the cores this process has: (threads, note).

    0 means automatic and stays 0. More threads than cores only makes the threads wait for each
    other (and each costs memory), so the number is lowered to the core count and ``note`` says
    so; it is "" when nothing changed. A ValueError names ``what`` for anything that is not a
    whole number of at least 0.
    """
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise ValueError(f"{what} must be a whole number, 0 for automatic (got {threads!r})")
    cores = cpu_count()
    if threads > cores:
        return cores, (f"{what} {threads} is more than the {cores} CPU core{'s' if cores != 1 else ''} "
                       f"this machine gives Inkwell; using {cores}")
    return threads, ""


def available_memory() -> int | None:
    """Bytes of memory that can be used without swapping other programs out; None when the
    system does not say."""
    if sys.platform.startswith("linux"):
        try:
            with open("/proc/meminfo", encoding="ascii") as f:
                for line in f:
                    if line.startswith("MemAvailable:"):
                        return int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            pass
    if sys.platform == "win32":
        return _windows_available()
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _windows_available() -> int | None:
    import ctypes

    class MemoryStatus(ctypes.Structure):
        _fields_ = [("dwLength", ctypes.c_ulong), ("dwMemoryLoad", ctypes.c_ulong),
                    ("ullTotalPhys", ctypes.c_ulonglong), ("ullAvailPhys", ctypes.c_ulonglong),
                    ("ullTotalPageFile", ctypes.c_ulonglong), ("ullAvailPageFile", ctypes.c_ulonglong),
                    ("ullTotalVirtual", ctypes.c_ulonglong), ("ullAvailVirtual", ctypes.c_ulonglong),
                    ("ullAvailExtendedVirtual", ctypes.c_ulonglong)]

    status = MemoryStatus()
    status.dwLength = ctypes.sizeof(MemoryStatus)
    try:
        if ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):  # type: ignore[attr-defined]
            return int(status.ullAvailPhys)
    except (AttributeError, OSError):
        pass
    return None


def memory_problem(needed: int, what: str, available: int | None = None) -> str | None:
    """A sentence when ``needed`` bytes are more than the memory available now, else None
    (also when the system does not say how much there is)."""
    available = available_memory() if available is None else available
    if available is None or needed <= available:
        return None
    return (f"{what} needs about {human_bytes(needed)} of memory, but only {human_bytes(available)} "
            "is available on this machine; close other programs or use a machine with more memory")


class OtherPrograms:
    """How many cores other programs kept busy between two readings: the machine's busy time
    less this process's own (its threads, the GUI's included), per second of wall time.

    Linux reads /proc/stat, where time a hypervisor gave to other machines ("steal") counts as
    busy too: on a shared virtual machine that is contention like any other; the time of programs
    running at a lower priority does not. Elsewhere the
    one-minute load average stands in (slower to follow a change; it counts this process's
    running threads, so their share is taken off). ``read`` gives None where neither exists, or
    when the last reading is too recent to say anything (``min_interval_s``); the next reading
    then covers the whole time since the last one that counted.
    """

    def __init__(self, min_interval_s: float = 0.25):
        self.min_interval_s = min_interval_s
        self._last = self._sample()

    def read(self) -> float | None:
        last = self._last
        if last is not None and time.monotonic() - last[0] < self.min_interval_s:
            return None  # not even read: the kernel writes all of /proc/stat for its first line, ~0.2 ms
        now = self._sample()
        if now is None or last is None:
            self._last = now
            return None
        wall = now[0] - last[0]
        self._last = now
        own = (now[2] - last[2]) / wall
        if now[1] is None or last[1] is None:  # the load average counts this process's running threads too
            return max(0.0, os.getloadavg()[0] - own)
        return max(0.0, (now[1] - last[1]) / wall - own)

    @staticmethod
    def _sample() -> tuple[float, float | None, float] | None:
        """(wall seconds, the machine's busy CPU-seconds or None, this process's CPU-seconds
        among them)."""
        times = os.times()
        busy = _machine_busy_seconds()
        if busy is None and not hasattr(os, "getloadavg"):
            return None
        # Run at a lower priority itself (started with nice), this process's user time is in
        # /proc/stat's nice column, which busy leaves out: only its system time is in busy.
        own = times.system if busy is not None and _niced() else times.user + times.system
        return time.monotonic(), busy, own


def _niced() -> bool:
    try:
        return os.getpriority(os.PRIO_PROCESS, 0) > 0
    except (AttributeError, OSError):
        return False


def _machine_busy_seconds() -> float | None:
    """CPU-seconds all cores have spent busy since boot (Linux), else None."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    try:
        # user nice system idle iowait irq softirq steal (guest time is inside user already)
        user, _nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[1:9])
    except ValueError:
        return None
    # Programs at a lower priority ("nice": a background build, an indexer) give way to Inkwell's
    # threads whenever these want a core, so their time is not competition.
    return (user + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
