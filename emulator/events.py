"""Event names as Appwrite 1.3 validates and expands them (no I/O).

Ports Event\\Validator\\Event::isValid and Event::generateEvents, quirks included.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# app/config/events.php of 1.3, reduced to what the validator reads. Every resource level also
# holds "$model", "$resource" and "$description", and every action "$description": the validator
# only asks "is this some key at that level", so those keys are valid actions/attributes too.
_ACTIONS = ("create", "delete", "update")
_META = {"$model": "", "$resource": True, "$description": ""}


def _level(actions: Mapping[str, tuple[str, ...]], **children: object) -> dict[str, object]:
    level: dict[str, object] = dict(_META)
    level.update(children)
    for action, attributes in actions.items():
        level[action] = {"$description": "", **{name: {"$description": ""} for name in attributes}}
    return level


_PLAIN = dict.fromkeys(_ACTIONS, ())
EVENTS: dict[str, dict[str, object]] = {
    "users": _level(
        {"create": (), "delete": (), "update": ("email", "name", "password", "status", "prefs")},
        sessions=_level({"create": (), "delete": ()}),
        recovery=_level({"create": (), "update": ()}),
        verification=_level({"create": (), "update": ()}),
    ),
    "databases": _level(
        _PLAIN,
        collections=_level(
            _PLAIN,
            documents=_level(_PLAIN),
            indexes=_level({"create": (), "delete": ()}),
            attributes=_level({"create": (), "delete": ()}),
        ),
    ),
    "buckets": _level(_PLAIN, files=_level(_PLAIN)),
    "teams": _level(
        {"create": (), "delete": (), "update": ("prefs",)},
        memberships=_level({"create": (), "delete": (), "update": ("status",)}),
    ),
    "functions": _level(_PLAIN, deployments=_level(_PLAIN), executions=_level(_PLAIN)),
}

# Placeholder names the 1.3 controllers use in their `event` labels.
_TOP_IDS = {
    "users": "userId",
    "databases": "databaseId",
    "buckets": "bucketId",
    "teams": "teamId",
    "functions": "functionId",
}
_SUB_IDS = {
    ("users", "sessions"): "sessionId",
    ("users", "recovery"): "tokenId",
    ("users", "verification"): "tokenId",
    ("databases", "collections"): "collectionId",
    ("buckets", "files"): "fileId",
    ("teams", "memberships"): "membershipId",
    ("functions", "deployments"): "deploymentId",
    ("functions", "executions"): "executionId",
}
_SUB_SUB_IDS = {"documents": "documentId", "indexes": "indexId", "attributes": "attributeId"}


def is_valid_event(event: str) -> bool:
    """Event validator of 1.3. PHP truthiness applies: "" and "0" count as missing."""
    parts = event.split(".")
    count = len(parts)
    if count < 2 or count > 7:
        return False
    kind, resource = parts[0], parts[1]
    top = EVENTS.get(kind)
    has_sub = count > 3 and top is not None and _is_resource(top.get(parts[2]))
    sub = top.get(parts[2]) if has_sub and top is not None else None
    has_sub_sub = count > 5 and isinstance(sub, dict) and _is_resource(sub.get(parts[4]))
    if not _truthy(kind) or not _truthy(resource) or top is None:
        return False
    attribute = ""
    if has_sub_sub:
        action = parts[6] if count > 6 else ""
    elif has_sub:
        action = parts[4] if count > 4 else ""
        attribute = parts[5] if count == 6 else ""
    else:
        action = parts[2] if count > 2 else ""
        attribute = parts[3] if count == 4 else ""
    level = sub if isinstance(sub, dict) else top
    if _truthy(action) and action not in level:
        return False
    if has_sub and not _truthy(parts[3]):
        return False
    if _truthy(attribute):
        # PHP throws (500) when the action is missing or not an array; treated as invalid here.
        actions = level.get(action)
        return isinstance(actions, dict) and attribute in actions
    return True


def expand_event(pattern: str, params: Mapping[str, str]) -> list[str]:
    """Event::generateEvents: the pattern with every ID/`*` mix the 1.3 code produces, unique."""
    keys, values = list(params.keys()), list(params.values())
    kind, resource, sub_type, sub_res, sub_sub_type, sub_sub_res, action, attribute = _parse(
        pattern
    )
    for placeholder in (resource, sub_res, sub_sub_res):
        if _truthy(placeholder) and placeholder.strip("\\[]") not in keys:
            raise ValueError(f"{placeholder} is missing from the params.")

    patterns: list[list[str]] = []
    if _truthy(action):
        if _truthy(sub_sub_res):
            full = [kind, resource, sub_type, sub_res, sub_sub_type, sub_sub_res]
            if _truthy(attribute):
                patterns.append([*full, action, attribute])
            patterns += [[*full, action], full]
        elif _truthy(sub_res):
            if _truthy(attribute):
                patterns.append([kind, resource, sub_type, sub_res, action, attribute])
            patterns += [
                [kind, resource, sub_type, sub_res, action],
                [kind, resource, sub_type, sub_res],
            ]
        else:
            patterns.append([kind, resource, action])
        if _truthy(attribute):
            patterns.append([kind, resource, action, attribute])
    if _truthy(sub_sub_res):
        patterns.append([kind, resource, sub_type, sub_res, sub_sub_type, sub_sub_res])
    if _truthy(sub_res):
        patterns.append([kind, resource, sub_type, sub_res])
    patterns.append([kind, resource])

    events: list[str] = []
    for template in _unique(".".join(p) for p in patterns):
        events.append(_replace(template, keys, values))
        events.append(_replace(template, keys, ["*"] * len(keys)))
        for key in keys:
            for current in keys:
                if _truthy(sub_sub_res):
                    for sub_current in keys:
                        if sub_current in (current, key):
                            continue
                        starred = _star(template, sub_current)
                        events.append(_replace(starred, keys, values))
                        events.append(_replace(_star(starred, current), keys, values))
                        events.append(_replace(_star(template, current), keys, values))
                elif current != key:
                    events.append(_replace(_star(template, current), keys, values))
    return _unique(e.replace("[", "").replace("]", "") for e in events)


def parse_concrete_event(event: str) -> tuple[str, dict[str, str]]:
    """An emitted name back as (pattern with placeholders, params from outer to inner)."""
    parts = event.split(".")
    kind = parts[0]
    if kind not in _TOP_IDS or len(parts) < 2:
        raise ValueError(f"Not a known event: {event}")
    names = {1: _TOP_IDS[kind]}
    sub_name = _SUB_IDS.get((kind, parts[2])) if len(parts) > 3 else None
    if sub_name is not None:
        names[3] = sub_name
        if len(parts) > 5 and kind == "databases" and parts[4] in _SUB_SUB_IDS:
            names[5] = _SUB_SUB_IDS[parts[4]]
    params = {name: parts[index] for index, name in names.items()}
    pattern = [f"[{names[i]}]" if i in names else part for i, part in enumerate(parts)]
    return ".".join(pattern), params


def _parse(pattern: str) -> tuple[str, str, str, str, str, str, str, str]:
    """Event::parseEventPattern: a `[` placeholder as part 4 / part 6 marks a (sub-)sub-resource."""
    parts = pattern.split(".")
    count = len(parts)

    def at(index: int) -> str:
        return parts[index] if index < count else ""

    has_sub = count > 3 and parts[3].startswith("[")
    has_sub_sub = count > 5 and parts[5].startswith("[") and has_sub
    sub_type, sub_res = (at(2), at(3)) if has_sub else ("", "")
    sub_sub_type, sub_sub_res = (at(4), at(5)) if has_sub_sub else ("", "")
    attribute = ""
    if has_sub_sub and count == 8:
        attribute = at(7)
    elif has_sub and not has_sub_sub and count == 6:
        attribute = at(5)
    elif not has_sub and count == 4:
        attribute = at(3)
    if not has_sub and count > 2:
        action = at(2)
    elif has_sub_sub:
        action = at(6)
    else:
        action = at(4) if has_sub and count > 4 else ""
    return at(0), at(1), sub_type, sub_res, sub_sub_type, sub_sub_res, action, attribute


def _replace(subject: str, keys: list[str], replacements: list[str]) -> str:
    """PHP str_replace with array search: each key in turn, over the result so far."""
    for key, replacement in zip(keys, replacements, strict=True):
        subject = subject.replace(key, replacement)
    return subject


def _star(subject: str, key: str) -> str:
    return subject.replace(key, "*")


def _unique(items: Iterable[str]) -> list[str]:
    """array_unique + array_values: first occurrence wins, order kept."""
    return list(dict.fromkeys(items))


def _is_resource(level: object) -> bool:
    return isinstance(level, dict) and bool(level.get("$resource"))


def _truthy(text: str) -> bool:
    return text not in ("", "0")


FUNCTION_CHANGES = frozenset(
    f"functions.[functionId].{action}" for action in ("create", "update", "delete")
)
"""The patterns emitted when a function is created, updated or deleted (its `events` or
`schedule` may have changed)."""
