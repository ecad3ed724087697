"""Emit the backend's SQL from the finished tree.

The backend dialects are sqlglot's, extended with the one node only the proxy
creates: a spliced policy view, written as the view's SQL built for the role.
"""
from __future__ import annotations

from sqlglot import exp
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.dialects.postgres import Postgres
from sqlglot.generator import Generator

from proxy.rewrite.policy_views import ViewBody


def _view_body_sql(_: Generator, node: ViewBody) -> str:
    return node.args["sql"]


class DuckDBBackend(DuckDB):
    class Generator(DuckDB.Generator):
        TRANSFORMS = {**DuckDB.Generator.TRANSFORMS, ViewBody: _view_body_sql}


class PostgresBackend(Postgres):
    class Generator(Postgres.Generator):
        TRANSFORMS = {**Postgres.Generator.TRANSFORMS, ViewBody: _view_body_sql}


DIALECTS = {"duckdb": DuckDBBackend, "postgres": PostgresBackend}


def emit(tree: exp.Expression, dialect: str) -> str:
    return tree.sql(dialect=DIALECTS[dialect])
