"""Keep Python's ``None`` alive under PySide6 builds that drop a reference to it.

Some PySide6 wheels (6.12.0 on Python 3.11 here) return ``None`` from every void method
(``setText``, ``processEvents``...) without taking the reference they then give away: each
call lowers ``None``'s reference count by one. From Python 3.12 ``None`` is immortal and
nothing happens; before it, a window that runs a few minutes drives the count to zero and
the interpreter aborts with "none_dealloc: deallocating None". When the leak is seen, we
raise ``None``'s count far beyond what any session can spend.
"""

from __future__ import annotations

import sys

_PROBES = 16
_done = False


def leaks_none() -> bool:
    """True when a void PySide6 call lowers ``None``'s reference count."""
    from PySide6.QtCore import QThread

    before = sys.getrefcount(None)
    for _ in range(_PROBES):
        QThread.msleep(0)
    return before - sys.getrefcount(None) >= _PROBES


def guard_none() -> bool:
    """Apply the guard once if this PySide6 leaks; returns whether it did."""
    global _done
    if _done or sys.version_info >= (3, 12):
        return False
    _done = True
    if not leaks_none():
        return False
    import ctypes

    # ob_refcnt is the first field of every object (CPython < 3.12); 2**40 references
    # outlast 10**12 void calls.
    ctypes.c_ssize_t.from_address(id(None)).value += 1 << 40
    return True
