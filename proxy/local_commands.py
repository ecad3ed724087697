"""The commands a session answers itself (parsed in session_commands.py): SET, RESET,
SHOW, transaction blocks and savepoints, DISCARD ALL and DEALLOCATE. No backend
statement runs: the backend connection is read-only and holds no session state."""
from __future__ import annotations

from dataclasses import dataclass, field

from proxy.errors import SqlError
from proxy.portals import row_description
from proxy.session_commands import LocalCommand
from proxy.settings import REPORTED
from proxy.wire import messages as m


@dataclass(slots=True)
class Transaction:
    status: str = "I"  # I idle, T in a block, E failed block
    savepoints: list[str] = field(default_factory=list)


class LocalCommands:
    """Mixed into Session: the methods here run on a Session."""

    def run_local(self, cmd: LocalCommand, *, describe: bool) -> None:
        assert self.settings is not None
        action, tx = cmd.action, self.tx
        if action in ("set", "reset"):
            if cmd.local and tx.status == "I":
                self.send_notice("WARNING", "25P01", "SET LOCAL can only be used in transaction blocks")
            else:
                name = self.settings.set(cmd.name or "", cmd.value if action == "set" else None,
                                         local=cmd.local)
                if name in REPORTED:
                    self.send(m.parameter_status(name, self.settings.get(name)))
        elif action == "reset_all":
            self.settings.reset_all()
            for name, value in self.settings.reported():
                self.send(m.parameter_status(name, value))
        elif action in ("show", "show_all"):
            columns = self._local_columns(cmd)
            rows = ([(self.settings.get(cmd.name or ""),)] if action == "show"
                    else self.settings.items())
            if describe:
                self.send(row_description(columns, ()))
            for row in rows:
                self.send(m.data_row([v.encode() for v in row]))
        elif action == "begin":
            if tx.status != "I":
                self.send_notice("WARNING", "25001", "there is already a transaction in progress")
            else:
                tx.status = "T"
                self.settings.begin()
        elif action in ("commit", "rollback"):
            if tx.status == "I":
                self.send_notice("WARNING", "25P01", "there is no transaction in progress")
            tag = "ROLLBACK" if tx.status == "E" or action == "rollback" else "COMMIT"
            self.settings.end(commit=tag == "COMMIT")
            self._close_sql_cursors(keep_hold=True)  # non-holdable cursors end with their transaction
            self._close_portals()  # so do portals
            self.tx = Transaction()
            self.send(m.command_complete(tag))
            return
        elif action == "savepoint":
            if tx.status == "I":
                raise SqlError("25P01", "SAVEPOINT can only be used in transaction blocks")
            tx.savepoints.append(cmd.name or "")
        elif action in ("release", "rollback_to"):
            if tx.status == "I":
                word = "RELEASE SAVEPOINT" if action == "release" else "ROLLBACK TO SAVEPOINT"
                raise SqlError("25P01", f"{word} can only be used in transaction blocks")
            if cmd.name not in tx.savepoints:
                raise SqlError("3B001", f'savepoint "{cmd.name}" does not exist')
            keep = tx.savepoints.index(cmd.name) + (1 if action == "rollback_to" else 0)
            del tx.savepoints[keep:]
            if action == "rollback_to":
                tx.status = "T"
        elif action == "discard_all":
            if tx.status != "I":
                raise SqlError("25001", "DISCARD ALL cannot run inside a transaction block")
            self.settings.reset_all()
            self.prepared.clear()
            self._close_sql_cursors(keep_hold=False)
            self._close_portals()
        elif action == "deallocate":
            if cmd.name is None:
                self.prepared = {k: v for k, v in self.prepared.items() if k == ""}
            elif self.prepared.pop(cmd.name, None) is None:
                raise SqlError("26000", f'prepared statement "{cmd.name}" does not exist')
        self.send(m.command_complete(cmd.tag))
