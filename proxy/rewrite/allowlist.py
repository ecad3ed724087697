"""What a statement may contain: an allow-list walk over every node
(DESIGN.md section 3, principle 3).

Every node of the parsed statement must be of a listed type; every function
must be listed by sqlglot class or, for functions sqlglot does not know, by
name. Whatever is not listed is refused, so a function or syntax the backend
adds in its next release is refused too. The list is what masked mode may use
(only transformed values are in scope there); aggregate mode then applies its
narrow grammar on top (aggregate_mode.py).
"""
from __future__ import annotations

from sqlglot import exp

from proxy.errors import SqlError, insufficient_privilege
from proxy.rewrite.context import RewriteContext

# Query structure, references, literals and operators.
STRUCTURE: frozenset[type[exp.Expression]] = frozenset({
    exp.Select, exp.From, exp.Join, exp.Where, exp.Group, exp.Having, exp.Order,
    exp.Ordered, exp.Limit, exp.Offset, exp.Fetch, exp.Distinct, exp.With, exp.CTE, exp.Subquery,
    exp.Union, exp.Intersect, exp.Except, exp.Values, exp.Tuple, exp.Table, exp.TableAlias,
    exp.Alias, exp.Column, exp.Identifier, exp.Star, exp.Literal, exp.Null, exp.Boolean,
    exp.Paren, exp.Parameter, exp.Placeholder, exp.DataType, exp.DataTypeParam, exp.Var,
    exp.Interval, exp.Window, exp.WindowSpec, exp.Filter, exp.WithinGroup, exp.Lateral,
    exp.Bracket, exp.Slice, exp.Case, exp.If, exp.Between, exp.In, exp.Like, exp.ILike,
    exp.Is, exp.Not, exp.And, exp.Or, exp.Neg, exp.Add, exp.Sub, exp.Mul, exp.Div, exp.IntDiv,
    exp.Mod, exp.Pow, exp.DPipe, exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE,
    exp.NullSafeEQ, exp.NullSafeNEQ, exp.BitwiseAnd, exp.BitwiseOr, exp.BitwiseXor,
    exp.BitwiseNot, exp.BitwiseLeftShift, exp.BitwiseRightShift, exp.Any, exp.All, exp.Exists,
    exp.Cast, exp.Array, exp.Dot, exp.Unnest,
    exp.JSONPath, exp.JSONPathRoot, exp.JSONPathKey, exp.JSONPathSubscript,
})

# Functions sqlglot knows, by class: computations over their arguments only.
FUNCTIONS: frozenset[type[exp.Expression]] = frozenset({
    # numbers
    exp.Abs, exp.Ceil, exp.Floor, exp.Round, exp.Trunc, exp.Sqrt, exp.Cbrt, exp.Exp, exp.Ln,
    exp.Log, exp.Pow, exp.Sign, exp.Greatest, exp.Least, exp.Degrees, exp.Radians, exp.Pi,
    exp.Sin, exp.Cos, exp.Tan, exp.Asin, exp.Acos, exp.Atan, exp.Atan2, exp.WidthBucket, exp.Rand,
    # conditionals
    exp.Coalesce, exp.Nullif, exp.Nvl2,
    # text
    exp.Lower, exp.Upper, exp.Length, exp.BitLength, exp.ByteLength, exp.Substring, exp.Left,
    exp.Right, exp.Trim, exp.Pad, exp.Replace, exp.Reverse, exp.Concat, exp.ConcatWs,
    exp.SplitPart, exp.StrPosition, exp.Initcap, exp.Repeat, exp.Ascii, exp.Chr, exp.MD5,
    exp.Translate, exp.SHA2, exp.SHA2Digest, exp.StartsWith, exp.RegexpReplace, exp.RegexpLike, exp.RegexpILike,
    exp.RegexpSplit, exp.RegexpExtract, exp.Levenshtein, exp.Format, exp.Overlay,
    # dates and times
    exp.DateTrunc, exp.TimestampTrunc, exp.TimeTrunc, exp.Extract, exp.CurrentDate,
    exp.CurrentTimestamp, exp.CurrentTime, exp.Localtime, exp.Localtimestamp, exp.MakeInterval,
    exp.JustifyDays, exp.JustifyHours, exp.JustifyInterval, exp.StrToTime, exp.StrToDate,
    exp.TimeToStr, exp.ToChar, exp.UnixToTime, exp.DateBin, exp.DateFromParts,
    exp.TimestampFromParts, exp.Date, exp.DateAdd, exp.DateSub, exp.DateDiff,
    exp.TsOrDsToDate, exp.ToNumber,
    # arrays and JSON
    exp.ArraySize, exp.ArrayToString, exp.StringToArray, exp.ArrayContains, exp.ArrayConcat,
    exp.Split, exp.JSONExtract, exp.JSONExtractScalar, exp.JSONBExtract, exp.JSONBExtractScalar,
    exp.JSONObject, exp.ParseJSON,
    # aggregates
    exp.Count, exp.Sum, exp.Avg, exp.Min, exp.Max, exp.Stddev, exp.StddevPop, exp.StddevSamp,
    exp.Variance, exp.VariancePop, exp.Corr, exp.CovarPop, exp.CovarSamp, exp.Median,
    exp.PercentileCont, exp.PercentileDisc, exp.Mode, exp.ArrayAgg, exp.GroupConcat,
    exp.LogicalAnd, exp.LogicalOr, exp.BitwiseAndAgg, exp.BitwiseOrAgg, exp.JSONArrayAgg,
    exp.JSONObjectAgg, exp.JSONBObjectAgg, exp.RegrSlope, exp.RegrIntercept, exp.RegrR2,
    # windows
    exp.RowNumber, exp.Rank, exp.DenseRank, exp.PercentRank, exp.CumeDist, exp.Ntile, exp.Lag,
    exp.Lead, exp.FirstValue, exp.LastValue, exp.NthValue,
    # set-returning, in FROM
    exp.GenerateSeries, exp.ExplodingGenerateSeries,
})

# PostgreSQL functions sqlglot parses as Anonymous, by name.
ANONYMOUS: frozenset[str] = frozenset({
    "age", "date_part", "datepart", "make_date", "make_timestamp", "to_date", "to_timestamp",
    "isfinite", "btrim", "ltrim", "rtrim", "quote_ident", "quote_literal", "octet_length",
    "char_length", "character_length", "sha256", "encode", "decode", "regexp_match",
    "regexp_matches", "regexp_split_to_array", "div", "gcd", "lcm", "log10", "trunc",
    "var_pop", "var_samp", "covar_pop", "covar_samp", "regr_slope", "regr_intercept", "regr_r2",
    "bit_and", "bit_or", "every", "percent_rank", "cume_dist", "ntile", "nth_value",
    "generate_series", "unnest", "array_length", "cardinality", "array_to_string",
    "string_to_array", "to_json", "to_jsonb", "json_build_object", "jsonb_build_object",
    "json_agg", "jsonb_agg", "num_nonnulls", "num_nulls", "strpos", "lpad", "rpad",
    "array_upper", "array_lower", "range", "row_to_json",
})

FUNCTION_HINT = ("anonproxy allows common PostgreSQL computations; functions that read files, "
                 "settings, the backend's identity or the statement itself are not available.")


def function_name(node: exp.Expression) -> str:
    """The function as a PostgreSQL user writes it (sqlglot's class names are not that)."""
    if isinstance(node, exp.Anonymous):
        return node.name.lower()
    text = node.sql(dialect="postgres")
    return text.split("(", 1)[0].strip().lower() if "(" in text else node.key


def check_node(node: exp.Expression) -> None:
    """Refuse a node that is not on the list."""
    kind = type(node)
    if kind in STRUCTURE or kind in FUNCTIONS:
        return
    if isinstance(node, exp.Anonymous):
        if node.name.lower() in ANONYMOUS:
            return
        raise SqlError("42883", f"function {node.name.lower()} is not allowed", hint=FUNCTION_HINT)
    if isinstance(node, exp.Func):
        raise SqlError("42883", f"function {function_name(node)} is not allowed", hint=FUNCTION_HINT)
    raise insufficient_privilege(f"{node.key.upper()} is not allowed here",
                                 hint="anonproxy serves read-only SELECT statements over ordinary "
                                      "expressions, functions and operators.")


def check_allowed(tree: exp.Expression, ctx: RewriteContext) -> exp.Expression:
    """Every node on the list, or the statement is refused (roles reading all tables raw skip it)."""
    if ctx.role.tables is None:
        return tree
    functions: set[str] = set()
    for node in tree.walk():
        check_node(node)
        if ctx.trace is not None and isinstance(node, exp.Func):
            functions.add(function_name(node))
    ctx.note("allow-list", f"every node allowed for mode {ctx.role.mode}"
             + (f"; functions: {', '.join(sorted(functions))}" if functions else ""))
    return tree
