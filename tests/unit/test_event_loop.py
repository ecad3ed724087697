"""The event loop's own errors are logged at most once per message per interval."""
import logging

from proxy import event_loop


def test_a_flood_of_loop_errors_is_one_log_line_per_interval_with_a_count(caplog, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(event_loop.time, "monotonic", lambda: clock[0])
    handler = event_loop.QuietExceptionHandler()
    context = {"message": "socket.accept() out of system resource", "exception": OSError(24, "Too many open files")}
    with caplog.at_level(logging.ERROR, logger="anonproxy.server"):
        for _ in range(5000):
            handler(None, context)
        assert len(caplog.records) == 1
        assert "Too many open files" in caplog.records[0].getMessage()
        clock[0] += event_loop.QuietExceptionHandler.INTERVAL
        handler(None, context)
        handler(None, {"message": "another kind"})
    assert len(caplog.records) == 3
    assert "(4999 more like it in the last 10 s)" in caplog.records[1].getMessage()
    assert caplog.records[2].getMessage() == "another kind"
