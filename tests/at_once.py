"""Run one function from many threads released at the same instant: the tests' way to
make concurrent releases really contend (for a ledger's lock, say)."""
from __future__ import annotations

import threading
from typing import Any, Callable


def at_once(n: int, attempt: Callable[[int], Any], expected: type[BaseException] = ()) -> list[Any]:
    """attempt(0) ... attempt(n - 1), each in its own thread, all started past one barrier;
    each result, or the `expected` exception it raised, in order of completion."""
    start, results, lock = threading.Barrier(n), [], threading.Lock()

    def run(i: int) -> None:
        start.wait()
        try:
            result = attempt(i)
        except expected as exc:
            result = exc
        with lock:
            results.append(result)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
