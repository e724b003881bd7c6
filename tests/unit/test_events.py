"""Event-name validation and expansion against the examples of Appwrite 1.3's event documentation."""

from __future__ import annotations

import pytest

from emulator.events import expand_event, is_valid_event, parse_concrete_event

FN_DEP = {"functionId": "FN", "deploymentId": "DEP"}


@pytest.mark.parametrize(
    ("pattern", "params", "expected"),
    [
        (
            "functions.[functionId].create",
            {"functionId": "FN"},
            ["functions.FN.create", "functions.*.create", "functions.FN", "functions.*"],
        ),
        (
            "functions.[functionId].update",
            {"functionId": "FN"},
            ["functions.FN.update", "functions.*.update", "functions.FN", "functions.*"],
        ),
        (
            "functions.[functionId].delete",
            {"functionId": "FN"},
            ["functions.FN.delete", "functions.*.delete", "functions.FN", "functions.*"],
        ),
        (
            "functions.[functionId].deployments.[deploymentId].create",
            FN_DEP,
            [
                "functions.FN.deployments.DEP.create",
                "functions.*.deployments.*.create",
                "functions.FN.deployments.*.create",
                "functions.*.deployments.DEP.create",
                "functions.FN.deployments.DEP",
                "functions.*.deployments.*",
                "functions.FN.deployments.*",
                "functions.*.deployments.DEP",
                "functions.FN",
                "functions.*",
            ],
        ),
        (
            "functions.[functionId].executions.[executionId].update",
            {"functionId": "FN", "executionId": "EX"},
            [
                "functions.FN.executions.EX.update",
                "functions.*.executions.*.update",
                "functions.FN.executions.*.update",
                "functions.*.executions.EX.update",
                "functions.FN.executions.EX",
                "functions.*.executions.*",
                "functions.FN.executions.*",
                "functions.*.executions.EX",
                "functions.FN",
                "functions.*",
            ],
        ),
        (
            "users.[userId].update.email",
            {"userId": "U"},
            [
                "users.U.update",
                "users.*.update",
                "users.U.update.email",
                "users.*.update.email",
                "users.U",
                "users.*",
            ],
        ),
    ],
)
def test_expansion_order(pattern: str, params: dict[str, str], expected: list[str]) -> None:
    assert expand_event(pattern, params) == expected


def test_three_levels_give_22_strings() -> None:
    events = expand_event(
        "databases.[databaseId].collections.[collectionId].documents.[documentId].create",
        {"databaseId": "D", "collectionId": "C", "documentId": "X"},
    )
    assert len(events) == 22 == len(set(events))
    assert events[0] == "databases.D.collections.C.documents.X.create"
    assert events[1] == "databases.*.collections.*.documents.*.create"
    expected = {
        f"databases.{d}.collections.{c}.documents.{x}{tail}"
        for d in ("D", "*")
        for c in ("C", "*")
        for x in ("X", "*")
        for tail in (".create", "")
    }
    expected |= {"databases.D.collections.C", "databases.D.collections.*"}
    expected |= {"databases.*.collections.C", "databases.*.collections.*"}
    expected |= {"databases.D", "databases.*"}
    assert set(events) == expected


def test_sub_resource_attribute_also_yields_the_top_level_action_quirk() -> None:
    events = expand_event(
        "teams.[teamId].memberships.[membershipId].update.status",
        {"teamId": "T", "membershipId": "M"},
    )
    assert events[0] == "teams.T.memberships.M.update.status"
    assert "teams.T.update.status" in events
    assert "teams.*.update.status" in events
    assert len(events) == 16


def test_missing_param_raises() -> None:
    with pytest.raises(ValueError, match="deploymentId"):
        expand_event(
            "functions.[functionId].deployments.[deploymentId].create", {"functionId": "F"}
        )


@pytest.mark.parametrize(
    "event",
    [
        "users.*.create",
        "users.*.update.name",
        "users.*.update.email",
        "databases.*.collections.*.documents.*.create",
        "functions.*.executions.*.update",
        "buckets.*.files.*",
        "functions.*",
        "functions.*.deployments.*.create",
        "functions.abc.executions.*",
        "teams.*.update.prefs",
        "teams.*.memberships.*.update.status",
        "users.*.sessions",  # quirk: the action only has to be *some* key at that level
        "users.*.sessions.*.create",
        "users.*.update.email.extra",  # a 5th part of a top-level event is never looked at
        "users.*.",  # PHP treats an empty action as absent
        "users.*.$description",  # config metadata keys count as actions
        "databases.*.collections.*.indexes.*.update",  # checked against the collection level
    ],
)
def test_valid_events(event: str) -> None:
    assert is_valid_event(event)


@pytest.mark.parametrize(
    "event",
    [
        "users",
        "foo.*.create",
        "users.*.explode",
        "",
        "users..create",
        "users.0.create",  # "0" is falsy in PHP
        "users.*.update.nickname",
        "users.*.create.email",
        "functions.*.deployments.*.explode",
        "functions.*.deployments.0",
        "teams.*.memberships.*.update.role",
        "databases.*.collections.*.documents.*.explode",
        "a.b.c.d.e.f.g.h",
        "users.*..email",  # PHP would throw (500); invalid here
    ],
)
def test_invalid_events(event: str) -> None:
    assert not is_valid_event(event)


@pytest.mark.parametrize(
    ("event", "pattern", "params"),
    [
        (
            "databases.db1.collections.c1.documents.d1.create",
            "databases.[databaseId].collections.[collectionId].documents.[documentId].create",
            {"databaseId": "db1", "collectionId": "c1", "documentId": "d1"},
        ),
        (
            "functions.F.deployments.D.update",
            "functions.[functionId].deployments.[deploymentId].update",
            {"functionId": "F", "deploymentId": "D"},
        ),
        ("users.U.update.email", "users.[userId].update.email", {"userId": "U"}),
        (
            "users.U.recovery.T.create",
            "users.[userId].recovery.[tokenId].create",
            {"userId": "U", "tokenId": "T"},
        ),
        ("buckets.B.files.F.delete", "buckets.[bucketId].files.[fileId].delete", None),
    ],
)
def test_parse_concrete_event(event: str, pattern: str, params: dict[str, str] | None) -> None:
    parsed_pattern, parsed_params = parse_concrete_event(event)
    assert parsed_pattern == pattern
    if params is not None:
        assert list(parsed_params.items()) == list(params.items())
    assert event in expand_event(parsed_pattern, parsed_params)


def test_parse_concrete_event_rejects_unknown_types() -> None:
    with pytest.raises(ValueError):
        parse_concrete_event("projects.P.create")
