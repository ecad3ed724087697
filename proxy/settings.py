"""Session settings (SET / SHOW / RESET), answered by the proxy itself.

The values drivers read at connect time are PostgreSQL 16's; SET changes only
this session; a transaction's SETs are undone by its ROLLBACK, and SET LOCAL
lasts until the transaction ends, as in PostgreSQL.
"""
from __future__ import annotations

import math

from proxy.errors import SqlError
from proxy.units import format_duration_ms, parse_duration_ms

SERVER_VERSION = "16.4"

# name -> (default, description). Names are PostgreSQL's, case as it reports them.
DEFAULTS: dict[str, tuple[str, str]] = {
    "server_version": (SERVER_VERSION, "Shows the server version."),
    "server_version_num": ("160004", "Shows the server version as an integer."),
    "server_encoding": ("UTF8", "Shows the server (database) character set encoding."),
    "client_encoding": ("UTF8", "Sets the client's character set encoding."),
    "DateStyle": ("ISO, MDY", "Sets the display format for date and time values."),
    "IntervalStyle": ("postgres", "Sets the display format for interval values."),
    "TimeZone": ("UTC", "Sets the time zone for displaying and interpreting time stamps."),
    "integer_datetimes": ("on", "Shows whether datetimes are integer based."),
    "standard_conforming_strings": ("on", "Causes '...' strings to treat backslashes literally."),
    "application_name": ("", "Sets the application name to be reported in statistics and logs."),
    "is_superuser": ("off", "Shows whether the current user is a superuser."),
    "session_authorization": ("", "Sets the session user name."),
    "default_transaction_read_only": ("on", "Sets the default read-only status of new transactions."),
    "transaction_read_only": ("on", "Sets the current transaction's read-only status."),
    "in_hot_standby": ("off", "Shows whether hot standby is currently active."),
    "default_transaction_isolation": ("read committed", "Sets the transaction isolation level of each new transaction."),
    "transaction_isolation": ("read committed", "Sets the current transaction's isolation level."),
    "search_path": ('"$user", public', "Sets the schema search order for names that are not schema-qualified."),
    "extra_float_digits": ("1", "Sets the number of digits displayed for floating-point values."),
    "bytea_output": ("hex", "Sets the output format for bytea."),
    "client_min_messages": ("notice", "Sets the message levels that are sent to the client."),
    "statement_timeout": ("0", "Sets the maximum allowed duration of any statement."),
    "lock_timeout": ("0", "Sets the maximum allowed duration of any wait for a lock."),
    "idle_in_transaction_session_timeout": ("0", "Sets the maximum allowed idle time between queries, when in a transaction."),
    "max_identifier_length": ("63", "Shows the maximum identifier length."),
    "lc_messages": ("C", "Sets the language in which messages are displayed."),
    "lc_monetary": ("C", "Sets the locale for formatting monetary amounts."),
    "lc_numeric": ("C", "Sets the locale for formatting numbers."),
    "lc_time": ("C", "Sets the locale for formatting date and time values."),
    "TimeZone_abbreviations": ("Default", "Selects a file of time zone abbreviations."),
    "row_security": ("on", "Enable row security."),
    "synchronous_commit": ("on", "Sets the current transaction's synchronization level."),
    "jit": ("off", "Allow JIT compilation."),
    "max_index_keys": ("32", "Shows the maximum number of index keys."),
    "default_table_access_method": ("heap", "Sets the default table access method for new tables."),
}
# Sent to the client as ParameterStatus at start-up and whenever they change.
REPORTED = ("application_name", "client_encoding", "DateStyle", "default_transaction_read_only",
            "in_hot_standby", "integer_datetimes", "IntervalStyle", "is_superuser",
            "server_encoding", "server_version", "session_authorization",
            "standard_conforming_strings", "TimeZone")
READ_ONLY = {"server_version", "server_version_num", "server_encoding", "integer_datetimes",
             "is_superuser", "in_hot_standby", "max_identifier_length", "max_index_keys",
             "session_authorization", "lc_collate", "lc_ctype"}
_CANONICAL = {name.lower(): name for name in DEFAULTS}
_UTF8 = {"utf8", "utf-8", "unicode"}


def canonical_name(name: str) -> str:
    """PostgreSQL's spelling of a setting; custom 'prefix.name' settings pass as given."""
    key = name.lower()
    if key in _CANONICAL:
        return _CANONICAL[key]
    if "." in key:
        return key
    raise SqlError("42704", f'unrecognized configuration parameter "{name}"')


def _validate(name: str, value: str) -> str:
    if name == "client_encoding" and value.lower() not in _UTF8:
        raise SqlError("0A000", f'client_encoding "{value}" is not supported',
                       hint="anonproxy speaks UTF8 only.")
    if name == "DateStyle" and not value.upper().startswith("ISO"):
        raise SqlError("0A000", f'DateStyle "{value}" is not supported',
                       hint="anonproxy formats dates in ISO style.")
    if name == "client_encoding":
        return "UTF8"
    if name in ("transaction_read_only", "default_transaction_read_only") and value.lower() in ("off", "false", "0"):
        raise SqlError("25006", "cannot set transaction read-write mode",
                       hint="anonproxy serves read-only queries.")
    return value


def _statement_timeout(value: str, cap_ms: int) -> str:
    """A new statement_timeout, normalized as SHOW prints it; never above the role's cap."""
    try:
        ms = parse_duration_ms(value)
    except ValueError as exc:
        raise SqlError("22023", f'invalid value for parameter "statement_timeout": "{value}"',
                       hint=str(exc)) from None
    if cap_ms and (ms == 0 or ms > cap_ms):
        cap = format_duration_ms(cap_ms)
        raise SqlError("42501", f'permission denied to set parameter "statement_timeout" to "{value}"',
                       detail=f"This role's statements may run for at most {cap}.",
                       hint=f"Use a value from 1ms to {cap}; the proxy's roles.<role>.statement_timeout sets the cap.")
    return format_duration_ms(ms)


EPSILON = "anonproxy.epsilon"
TARGET, TARGET_ABS = "anonproxy.target_error", "anonproxy.target_error_abs"
DP_SETTINGS = (EPSILON, TARGET, TARGET_ABS)


def _dp_setting(name: str, value: str, cap: float | None) -> str:
    """anonproxy.epsilon: above 0, at most the role's max_epsilon; target_error: a fraction
    (0.02 = 2%); target_error_abs: a positive number in the aggregates' own units."""
    if cap is None:
        raise SqlError("55P02", f'parameter "{name}" applies to dp roles only',
                       hint="Only roles in dp mode spend a privacy budget.")
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    top = {EPSILON: cap, TARGET: 1.0, TARGET_ABS: math.inf}[name]
    if not 0 < number <= top or (name == TARGET and number == 1.0):
        hint = {EPSILON: f"Use a number above 0 and at most {cap:g}, this role's max_epsilon.",
                TARGET: "Use a fraction above 0 and below 1: 0.02 asks for answers within 2% of the truth.",
                TARGET_ABS: "Use a positive number, in the aggregates' own units."}[name]
        raise SqlError("22023", f'invalid value for parameter "{name}": "{value}"', hint=hint)
    return repr(number)


class Settings:
    def __init__(self, user: str, startup: dict[str, str], statement_timeout_ms: int = 0,
                 epsilon_cap: float | None = None) -> None:
        """`statement_timeout_ms` is the role's cap and the session's default (0: none);
        `epsilon_cap` a dp role's max_epsilon (None: not a dp role)."""
        self._timeout_cap = statement_timeout_ms
        self._epsilon_cap = epsilon_cap
        self._session: dict[str, str] = {name: d for name, (d, _) in DEFAULTS.items()}
        self._session["session_authorization"] = user
        self._session["statement_timeout"] = format_duration_ms(statement_timeout_ms)
        self._defaults = dict(self._session)  # what RESET returns to
        self._local: dict[str, str] = {}
        self._saved: dict[str, str] | None = None
        for key, value in startup.items():
            try:
                name = canonical_name(key)
                if name not in READ_ONLY:
                    self._defaults[name] = self._session[name] = self._validate(name, value)
            except SqlError:
                pass  # PostgreSQL would refuse the login; being lenient keeps drivers working

    def get(self, name: str) -> str:
        name = canonical_name(name)
        if name in self._local:
            return self._local[name]
        if name in self._session:
            return self._session[name]
        raise SqlError("42704", f'unrecognized configuration parameter "{name}"')

    def set(self, name: str, value: str | None, *, local: bool = False) -> str:
        """Set (or with value None reset) one setting; returns its canonical name."""
        name = canonical_name(name)
        if name in READ_ONLY:
            raise SqlError("55P02", f'parameter "{name}" cannot be changed')
        new = self._defaults.get(name, "") if value is None else self._validate(name, value)
        if local:
            self._local[name] = new
        else:
            self._session[name] = new
            self._local.pop(name, None)
        return name

    def _validate(self, name: str, value: str) -> str:
        if name == "statement_timeout":
            return _statement_timeout(value, self._timeout_cap)
        if name in DP_SETTINGS:
            return _dp_setting(name, value, self._epsilon_cap)
        return _validate(name, value)

    def _dp_value(self, name: str) -> float | None:
        value = self._local.get(name, self._session.get(name))
        return float(value) if value else None

    def epsilon(self, default: float) -> float:
        """The epsilon a dp statement spends: SET anonproxy.epsilon, else the role's default."""
        return self._dp_value(EPSILON) or default

    def target_error(self) -> tuple[float, bool] | None:
        """(error, relative) when the session asks for an accuracy instead of an epsilon;
        a relative target takes precedence over an absolute one."""
        relative, absolute = self._dp_value(TARGET), self._dp_value(TARGET_ABS)
        if relative:
            return relative, True
        return (absolute, False) if absolute else None

    def statement_timeout_ms(self) -> int:
        """The timeout the next statement runs under (0: none)."""
        return parse_duration_ms(self.get("statement_timeout"))

    def reset_all(self) -> None:
        self._session = dict(self._defaults)
        self._local.clear()

    def items(self) -> list[tuple[str, str, str]]:
        names = sorted(set(self._session) | set(self._local), key=str.lower)
        return [(n, self.get(n), DEFAULTS.get(n, ("", ""))[1]) for n in names]

    def reported(self) -> list[tuple[str, str]]:
        return [(n, self.get(n)) for n in REPORTED]

    # Transaction hooks: SETs inside a rolled-back transaction do not stick.
    def begin(self) -> None:
        self._saved = dict(self._session)

    def end(self, *, commit: bool) -> None:
        if not commit and self._saved is not None:
            self._session = self._saved
        self._saved = None
        self._local.clear()
