"""`emulator.queries`: the 1.3 query grammar, the per-list validators and their exact messages."""

from __future__ import annotations

import pytest
from appwrite.query import Query as SdkQuery

from emulator.errors import GeneralArgumentInvalid, GeneralUnknown
from emulator.queries import (
    DEPLOYMENTS_SCHEMA,
    EXECUTIONS_SCHEMA,
    FUNCTIONS_SCHEMA,
    Filter,
    ListQuery,
    Order,
    Schema,
    parse_queries,
    search_matches,
)

FN, DEP, EXE = FUNCTIONS_SCHEMA, DEPLOYMENTS_SCHEMA, EXECUTIONS_SCHEMA
RANGE = "Value must be a valid range between 0 and 9,223,372,036,854,775,808"
UID = (
    "Invalid queries: Query not valid: Invalid cursor: UID must contain at most 36 chars. "
    "Valid chars are a-z, A-Z, 0-9, and underscore. Can't start with a leading underscore"
)
HEX_ID = "64b1f9a2c3d4e5f6a7b8"


def error(queries: object, schema: Schema = FN, **kwargs: bool) -> str:
    with pytest.raises(GeneralArgumentInvalid) as caught:
        parse_queries(queries, schema, **kwargs)
    assert caught.value.code == 400
    assert caught.value.type == "general_argument_invalid"
    return caught.value.message


def only_filter(query: str, schema: Schema = FN) -> Filter:
    result = parse_queries([query], schema)
    assert len(result.filters) == 1
    return result.filters[0]


def test_schemas_are_the_1_3_allow_lists() -> None:
    assert dict(FN) == {
        "name": "string",
        "enabled": "boolean",
        "runtime": "string",
        "deployment": "string",
        "schedule": "string",
        "scheduleNext": "datetime",
        "schedulePrevious": "datetime",
        "timeout": "integer",
    }
    assert dict(DEP) == {
        "entrypoint": "string",
        "size": "integer",
        "buildId": "string",
        "activate": "boolean",
    }
    assert dict(EXE) == {
        "trigger": "string",
        "status": "string",
        "statusCode": "integer",
        "duration": "double",
    }


@pytest.mark.parametrize(
    ("query", "schema", "expected"),
    [
        ('equal("name", "a")', FN, Filter("equal", "name", ("a",))),
        ('equal("name", ["a", "b"])', FN, Filter("equal", "name", ("a", "b"))),
        ('equal("enabled", true)', FN, Filter("equal", "enabled", (True,))),
        ('equal("enabled", [false])', FN, Filter("equal", "enabled", (False,))),
        ('notEqual("timeout", 5)', FN, Filter("notEqual", "timeout", (5,))),
        ('lessThan("timeout", +5)', FN, Filter("lessThan", "timeout", (5,))),
        ('lessThanEqual("timeout", 007)', FN, Filter("lessThanEqual", "timeout", (7,))),
        ('greaterThan("timeout", -0)', FN, Filter("greaterThan", "timeout", (0,))),
        ('greaterThanEqual("duration", 1.5)', EXE, Filter("greaterThanEqual", "duration", (1.5,))),
        ('equal("duration", 2)', EXE, Filter("equal", "duration", (2,))),
        ('equal("duration", 1e3)', EXE, Filter("equal", "duration", (1000.0,))),
        ("equal('name', 'single')", FN, Filter("equal", "name", ("single",))),
        ('equal("name", "it\'s")', FN, Filter("equal", "name", ("it's",))),
        ("equal('name', 'say \"hi\"')", FN, Filter("equal", "name", ('say "hi"',))),
        ('equal("name", "a\\"b")', FN, Filter("equal", "name", ('a"b',))),
        ('equal("name", "a\\\\b")', FN, Filter("equal", "name", ("a\\\\b",))),
        ('equal("name", "a\\nb")', FN, Filter("equal", "name", ("a\\nb",))),
        ('equal( "name" ,  "a b" )', FN, Filter("equal", "name", ("a b",))),
        ("equal(name, a b)", FN, Filter("equal", "name", ("ab",))),
        ('equal("name",\t"a"\n)', FN, Filter("equal", "name", ("a",))),
        ('equal("enabled",\ttrue)', FN, Filter("equal", "enabled", (True,))),
        ('equal("name", "a,b")', FN, Filter("equal", "name", ("a,b",))),
        ('equal("name", "[x]")', FN, Filter("equal", "name", ("[x]",))),
        ('equal("name", a\\,b)', FN, Filter("equal", "name", ("ab",))),
        ('equal("name", "null")', FN, Filter("equal", "name", ("null",))),
        ('equal("name", "5")', FN, Filter("equal", "name", ("5",))),
        ('equal("name", "")', FN, Filter("equal", "name", ("",))),
        ('equal("name", ["a", "b")', FN, Filter("equal", "name", ("b",))),
        ('equal("name", "a")xyz', FN, Filter("equal", "name", ('a")x',))),
        ('equal("name", "a"]', FN, Filter("equal", "name", ("a",))),
        ('equal("name", [])', FN, Filter("equal", "name", ())),
        ('equal("name")', FN, Filter("equal", "name", ())),
        ('equal("name", "a", "b")', FN, Filter("equal", "name", ("a",))),
        ('equal("name",, "a")', FN, Filter("equal", "name", ("a",))),
        ('isNull("name")', FN, Filter("isNull", "name", ())),
        ('isNotNull("deployment")', FN, Filter("isNotNull", "deployment", ())),
        ('search("name", "x y")', FN, Filter("search", "name", ("x y",))),
        ('startsWith("runtime", "php")', FN, Filter("startsWith", "runtime", ("php",))),
        ('endsWith("schedule", "*")', FN, Filter("endsWith", "schedule", ("*",))),
        ('between("timeout", 1, 2)', FN, Filter("between", "timeout", (1, 2))),
        ('between("timeout", [1, 2])', FN, Filter("between", "timeout", (1, 2))),
        ('equal("$id", "abc")', FN, Filter("equal", "$id", ("abc",))),
        ('equal("$createdAt", "2023-01-01")', DEP, Filter("equal", "$createdAt", ("2023-01-01",))),
        ('lessThan("$updatedAt", "2024")', EXE, Filter("lessThan", "$updatedAt", ("2024",))),
        (
            'equal("scheduleNext", "2023-01-01")',
            FN,
            Filter("equal", "scheduleNext", ("2023-01-01",)),
        ),
        ('equal("schedulePrevious", "x")', FN, Filter("equal", "schedulePrevious", ("x",))),
        ('equal("entrypoint", "index.js")', DEP, Filter("equal", "entrypoint", ("index.js",))),
        ('equal("size", 10)', DEP, Filter("equal", "size", (10,))),
        ('equal("buildId", "b")', DEP, Filter("equal", "buildId", ("b",))),
        ('equal("activate", true)', DEP, Filter("equal", "activate", (True,))),
        ('equal("trigger", "http")', EXE, Filter("equal", "trigger", ("http",))),
        ('equal("status", "completed")', EXE, Filter("equal", "status", ("completed",))),
        ('equal("statusCode", 200)', EXE, Filter("equal", "statusCode", (200,))),
    ],
)
def test_filters_parse_and_pass(query: str, schema: Schema, expected: Filter) -> None:
    got = only_filter(query, schema)
    assert got == expected
    assert [type(v) for v in got.values] == [type(v) for v in expected.values]


def test_integer_overflow_becomes_a_float() -> None:
    assert only_filter('equal("duration", 9223372036854775808)', EXE).values == (2.0**63,)
    assert only_filter('equal("duration", 9223372036854775807)', EXE).values == (2**63 - 1,)


@pytest.mark.parametrize(
    ("query", "schema", "expected_type"),
    [
        ('equal("name", 5)', FN, "string"),
        ('equal("name", true)', FN, "string"),
        ('equal("name", null)', FN, "string"),
        ('equal("name", ["a", 5])', FN, "string"),
        ('isNull("name", null)', FN, "string"),
        ('equal("timeout", "5")', FN, "integer"),
        ('equal("timeout", 5.0)', FN, "integer"),
        ('equal("timeout", 1e2)', FN, "integer"),
        ('equal("timeout", true)', FN, "integer"),
        ('equal("timeout", 9223372036854775808)', FN, "integer"),
        ('between("timeout", 1)', FN, "integer"),
        ('between("timeout", 1, "2")', FN, "integer"),
        ('between("timeout", [1, 2, 3])', FN, "integer"),
        ('between("timeout", [1], [2])', FN, "integer"),
        ('equal("enabled", 1)', FN, "boolean"),
        ('equal("enabled", "true")', FN, "boolean"),
        ('equal("scheduleNext", 5)', FN, "datetime"),
        ('equal("$createdAt", null)', FN, "datetime"),
        ('equal("$id", 5)', FN, "string"),
        ('equal("size", "1")', DEP, "integer"),
        ('equal("activate", 0)', DEP, "boolean"),
        ('equal("statusCode", 200.5)', EXE, "integer"),
        ('equal("duration", true)', EXE, "double"),
        ('equal("duration", "1.5")', EXE, "double"),
    ],
)
def test_value_types(query: str, schema: Schema, expected_type: str) -> None:
    assert error([query], schema) == (
        f"Invalid queries: Query not valid: Query type does not match expected: {expected_type}"
    )


@pytest.mark.parametrize(
    ("query", "schema", "detail"),
    [
        ('equal("nope", "x")', FN, "Attribute not found in schema: nope"),
        ('equal("size", 1)', FN, "Attribute not found in schema: size"),
        ('equal("status", "x")', FN, "Attribute not found in schema: status"),
        ('equal("timeout", 1)', DEP, "Attribute not found in schema: timeout"),
        ('equal("name", "x")', EXE, "Attribute not found in schema: name"),
        ('equal("Name", "x")', FN, "Attribute not found in schema: Name"),
        ('isNull("nope")', FN, "Attribute not found in schema: nope"),
        ('equal("name.first", "x")', FN, "Cannot query nested attribute on: name"),
        ('equal("$id.x", "x")', FN, "Cannot query nested attribute on: $id"),
        ('equal("foo.bar", "x")', FN, "Attribute not found in schema: foo"),
        ("equal(5, 1)", FN, "Attribute not found in schema: 5"),
        ("equal(true, 1)", FN, "Attribute not found in schema: 1"),
        ("equal(1.5, 1)", FN, "Attribute not found in schema: 1"),
        ('equal(, "x")', FN, "Attribute not found in schema: x"),
        ("equal()", FN, "Attribute not found in schema: "),
        ('orderAsc("nope")', FN, "Attribute not found in schema: nope"),
        ('orderDesc("size")', FN, "Attribute not found in schema: size"),
        ('orderAsc("name.x")', FN, "Attribute not found in schema: name.x"),
        ("orderAsc(1e20)", FN, "Attribute not found in schema: 1.0E+20"),
        ("orderAsc(0.1)", FN, "Attribute not found in schema: 0.1"),
        ("orderDesc(true)", FN, "Attribute not found in schema: 1"),
    ],
)
def test_attribute_allow_lists(query: str, schema: Schema, detail: str) -> None:
    assert error([query], schema) == f"Invalid queries: Query not valid: {detail}"


def test_at_most_100_values() -> None:
    hundred = ", ".join(f'"v{i}"' for i in range(100))
    assert len(only_filter(f'equal("name", [{hundred}])').values) == 100
    too_many = f'equal("name", [{hundred}, 5])'  # the count is checked before the types
    assert error([too_many]) == (
        "Invalid queries: Query not valid: Query on attribute has greater than 100 values: name"
    )
    assert error([f'equal("nope", [{hundred}, 5])']).endswith("Attribute not found in schema: nope")


@pytest.mark.parametrize(
    "query",
    [
        "nonsense",
        "",
        "limit 5",
        'equal.x("name", "a")',
        'name.equal("a")',
        'equal(["name"], "x")',
        'orderAsc(["name"])',
        "between()",
        "between(null, 1, 2)",
        'between(["timeout"], 1, 2)',
        'select("name")',
        "select(name)",
        "select()",
        'contains(["name"], "x")',
    ],
)
def test_parse_failures(query: str) -> None:
    assert error([query]) == f"Invalid queries: Invalid query: {query}"


@pytest.mark.parametrize(
    ("query", "method"),
    [
        ('contains("name", "a")', "contains"),
        ('notContains("name", "a")', "notContains"),
        ('foo("name")', "foo"),
        ('Equal("name", "a")', "Equal"),
        ('eq("name", "a")', "eq"),
        ('equal ("name", "a")', "equal "),
        ('("name")', ""),
        ("orderRandom()", "orderRandom"),
        ('select(["name"])', "select"),
        ('select(["*"])', "select"),
    ],
)
def test_methods_not_valid(query: str, method: str) -> None:
    assert error([query]) == f"Invalid queries: Query method not valid: {method}"


@pytest.mark.parametrize(
    ("query", "value"),
    [
        ("(0)", 0),
        ("(5)", 5),
        ('("5")', 5),
        ("('5')", 5),
        ('(" 5 ")', 5),
        ("(+5)", 5),
        ("(007)", 7),
        ("(9223372036854775807)", 2**63 - 1),
        ('("1000000")', 1_000_000),
    ],
)
@pytest.mark.parametrize("method", ["limit", "offset"])
def test_limit_and_offset_accept(method: str, query: str, value: int) -> None:
    result = parse_queries([method + query], FN)
    assert (result.limit, result.offset) == ((value, 0) if method == "limit" else (25, value))


@pytest.mark.parametrize(
    "query",
    [
        "(-1)",
        "(1.5)",
        '("1.5")',
        "(1e2)",
        '("abc")',
        "(abc)",
        "(true)",
        "(null)",
        "()",
        "([5])",
        "(9223372036854775808)",
        '("0x1A")',
        '("1_000")',
        "(5",
    ],
)
@pytest.mark.parametrize("method", ["limit", "offset"])
def test_limit_and_offset_reject(method: str, query: str) -> None:
    assert error([method + query]) == f"Invalid queries: Query not valid: Invalid {method}: {RANGE}"


@pytest.mark.parametrize(
    ("query", "cursor", "before"),
    [
        ('cursorAfter("abc")', "abc", False),
        ('cursorBefore("abc")', "abc", True),
        ("cursorAfter(abc)", "abc", False),
        ('cursorAfter("")', "", False),
        (f'cursorAfter("{HEX_ID}")', HEX_ID, False),
        (f'cursorAfter("{"a" * 36}")', "a" * 36, False),
        ('cursorBefore("a.b-c_D9")', "a.b-c_D9", True),
    ],
)
def test_cursor_accept(query: str, cursor: str, before: bool) -> None:
    result = parse_queries([query], FN)
    assert (result.cursor, result.cursor_before) == (cursor, before)


@pytest.mark.parametrize(
    "query",
    [
        f'cursorAfter("{"a" * 37}")',
        'cursorAfter("_a")',
        'cursorAfter(".a")',
        'cursorBefore("-a")',
        'cursorAfter("a b")',
        'cursorAfter("a@b")',
        'cursorAfter("é")',
        "cursorAfter(123)",
        "cursorAfter(true)",
        "cursorAfter(null)",
        'cursorAfter(["a"])',
        "cursorAfter()",
    ],
)
def test_cursor_reject(query: str) -> None:
    assert error([query]) == UID


def test_orders_combine_and_empty_means_natural() -> None:
    result = parse_queries(
        ['orderDesc("name")', 'orderAsc("$createdAt")', "orderAsc()", 'orderDesc("")'], FN
    )
    assert result.orders == (
        Order("name", True),
        Order("$createdAt", False),
        Order("", False),
        Order("", True),
    )
    assert parse_queries(["orderAsc(null)", "orderAsc(false)"], FN).orders == (
        Order("", False),
        Order("", False),
    )


def test_only_the_first_limit_offset_and_cursor_count() -> None:
    result = parse_queries(
        [
            "limit(1)",
            "limit(2)",
            "offset(3)",
            "offset(4)",
            'cursorBefore("b")',
            'cursorAfter("a")',
            'equal("name", "x")',
            'equal("enabled", true)',
        ],
        FN,
    )
    assert (result.limit, result.offset, result.cursor, result.cursor_before) == (1, 3, "b", True)
    assert [f.attribute for f in result.filters] == ["name", "enabled"]


@pytest.mark.parametrize(
    ("queries", "message"),
    [
        (["limit(1)", "limit(-1)"], f"Invalid queries: Query not valid: Invalid limit: {RANGE}"),
        (["offset(1)", "offset(x)"], f"Invalid queries: Query not valid: Invalid offset: {RANGE}"),
        (['cursorAfter("a")', 'cursorBefore("_b")'], UID),
        (
            ['equal("nope", 1)', "nonsense"],
            "Invalid queries: Query not valid: Attribute not found in schema: nope",
        ),
        (["nonsense", 'equal("nope", 1)'], "Invalid queries: Invalid query: nonsense"),
        (["foo()", "nonsense"], "Invalid queries: Query method not valid: foo"),
    ],
)
def test_every_query_is_checked_and_the_first_failure_wins(
    queries: list[str], message: str
) -> None:
    assert error(queries) == message


@pytest.mark.parametrize("raw", [None, "", [], ()])
def test_absent_or_empty_means_defaults(raw: object) -> None:
    assert parse_queries(raw, FN) == ListQuery()
    assert ListQuery() == ListQuery((), (), 25, 0, None, False, None)


def test_tuples_and_json_objects_are_read_as_lists() -> None:
    assert parse_queries(("limit(1)",), FN).limit == 1
    result = parse_queries({"0": "limit(1)", "1": "offset(2)"}, FN)
    assert (result.limit, result.offset) == (1, 2)


@pytest.mark.parametrize("raw", ["limit(1)", 5, True, 1.5])
def test_a_scalar_parameter_is_a_server_error(raw: object) -> None:
    with pytest.raises(GeneralUnknown) as caught:
        parse_queries(raw, FN)
    assert (caught.value.code, caught.value.message) == (500, "Server Error")


@pytest.mark.parametrize(
    ("item", "shown"),
    [(5, "5"), (1.5, "1.5"), (True, "1"), (False, ""), (None, ""), (["limit(1)"], "Array")],
)
def test_non_string_items_are_invalid_queries(item: object, shown: str) -> None:
    assert error([item]) == f"Invalid queries: Invalid query: {shown}"
    assert error([{"a": 1}]) == "Invalid queries: Invalid query: Array"


def test_select_when_allowed() -> None:
    assert parse_queries([], FN, allow_select=True).select is None
    got = parse_queries(
        ['select(["name", "$id"])', 'select(["*", "name.x"])'], FN, allow_select=True
    )
    assert got.select == ("name", "$id", "*", "name.x")
    assert error(['select(["nope.x"])'], allow_select=True) == (
        "Invalid queries: Query not valid: Attribute not found in schema: nope"
    )
    assert (
        error(['select("name")'], allow_select=True)
        == 'Invalid queries: Invalid query: select("name")'
    )


@pytest.mark.parametrize(
    ("query", "schema", "expected"),
    [
        (SdkQuery.equal("name", "x"), FN, Filter("equal", "name", ("x",))),
        (SdkQuery.equal("name", ["x", "y"]), FN, Filter("equal", "name", ("x", "y"))),
        (SdkQuery.equal("enabled", True), FN, Filter("equal", "enabled", (True,))),
        (SdkQuery.not_equal("timeout", 5), FN, Filter("notEqual", "timeout", (5,))),
        (SdkQuery.less_than("timeout", 5), FN, Filter("lessThan", "timeout", (5,))),
        (SdkQuery.less_than_equal("size", 5), DEP, Filter("lessThanEqual", "size", (5,))),
        (SdkQuery.greater_than("duration", 1.5), EXE, Filter("greaterThan", "duration", (1.5,))),
        (
            SdkQuery.greater_than_equal("statusCode", 200),
            EXE,
            Filter("greaterThanEqual", "statusCode", (200,)),
        ),
        (SdkQuery.between("timeout", 1, 10), FN, Filter("between", "timeout", (1, 10))),
        (SdkQuery.between("duration", 0.5, 2), EXE, Filter("between", "duration", (0.5, 2))),
        (SdkQuery.is_null("deployment"), FN, Filter("isNull", "deployment", ())),
        (SdkQuery.is_not_null("buildId"), DEP, Filter("isNotNull", "buildId", ())),
        (SdkQuery.starts_with("name", "Te"), FN, Filter("startsWith", "name", ("Te",))),
        (SdkQuery.ends_with("entrypoint", ".js"), DEP, Filter("endsWith", "entrypoint", (".js",))),
        (SdkQuery.search("name", "a b"), FN, Filter("search", "name", ("a b",))),
    ],
)
def test_python_sdk_2_0_2_filters(query: str, schema: Schema, expected: Filter) -> None:
    assert only_filter(query, schema) == expected


def test_python_sdk_2_0_2_paging_and_order() -> None:
    result = parse_queries(
        [
            SdkQuery.order_asc("name"),
            SdkQuery.order_desc("$createdAt"),
            SdkQuery.cursor_before(HEX_ID),
            SdkQuery.limit(5),
            SdkQuery.offset(10),
        ],
        FN,
    )
    assert result == ListQuery(
        orders=(Order("name", False), Order("$createdAt", True)),
        limit=5,
        offset=10,
        cursor=HEX_ID,
        cursor_before=True,
    )
    assert parse_queries([SdkQuery.cursor_after("x")], FN).cursor_before is False
    assert error([SdkQuery.select(["name"])]) == "Invalid queries: Query method not valid: select"


FUNCTION_DOC = f"{HEX_ID} Test php-8.0"


@pytest.mark.parametrize(
    ("document", "term", "expected"),
    [
        (FUNCTION_DOC, HEX_ID, True),
        (FUNCTION_DOC, "Test", True),
        (FUNCTION_DOC, "test", True),
        (FUNCTION_DOC, "TEST", True),
        (FUNCTION_DOC, "php-8.0", True),
        (f"{HEX_ID} Test 2 php-8.0", "Test", True),
        ("fn1 Mailer node-18.0", "php-8.0", False),
        ("fn1 Mailer node-18.0", "node-18.0", True),
        ("fn1 Mailer node-18.0", "Mail", True),
        ("fn1 Mailer node-18.0", "Ma", True),
        ("fn1 Mailer node-18.0", "Mail xyz", False),
        ("fn1 Mailer node-18.0", "xyz Mailer", True),
        ("fn1 Mailer node-18.0", "Mailer.", True),
        ("fn1 Mailer node-18.0", "Mail.", False),
        ("fn1 Mailer node-18.0", "+Mailer", True),
        ("fn1 Mailer node-18.0", "-Mailer", True),
        ("fn1 Mailer node-18.0", "@Mail*", True),
        ("fn1 Mailer node-18.0", "*", False),
        ("fn1 Mailer node-18.0", "@@", False),
        ("fn1 Mailer node-18.0", "", False),
        ("fn1 Mailer node-18.0", "mailers", False),
        ("fn1 ab cd", "ab", False),
        ("fn1 ab cd", "ab xyz", False),
        ("fn1 the mailer", "the xyz", False),
        ("fn1 theme", "the", True),
        ("fn1 my_func", "my_fu", True),
        ("fn1 my_func", "func", False),
        ("user@example.org", "user@example", True),
        (f"fnid001 {HEX_ID}", "fnid001", True),
        (f"fnid001 {HEX_ID}", HEX_ID, True),
    ],
)
def test_search_matches(document: str, term: str, expected: bool) -> None:
    assert search_matches(document, term) is expected
