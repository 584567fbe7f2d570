"""The OpenAPI document of /api/ (settings/openapi.py, assembled from each app's openapi.py) is valid,
complete, and true of the server.

- the document served at /api/schema/ is valid OpenAPI 3.1 (schemathesis' bundled meta-schema) and
  every `$ref` in it resolves;
- every route of the `api` URL list is described (a new endpoint without docs fails here), and every
  described path resolves to one of them, described by the piece of the app whose view serves it;
- every operation has an operationId, unique, camelCase, and the same as yesterday (clients are
  generated from them);
- schemathesis generates requests from the document for every operation and sends them through
  Django's WSGI application (the whole middleware stack, in this test's database), checking that
  no answer is a server error and that each answer's status, content type and body are the
  documented ones. Requests come as one of several personas: anonymous, a netizen's browser session
  (with and without the CSRF token), and the letter handler, operator and supervisor of the demo;
  half the generated path parameters are swapped for real programmes, letters, keys and extensions
  so that the answers are not all 404;
- one letter is walked through every staff step over HTTP (forward, sign, extend, approve, reply,
  evaluation, wrong-closure, redo, return), each answer checked the same way, since the generated
  run seldom meets the right role, letter and state at once.

Not covered: path parameters the URL patterns refuse (`-5`, `true`) are only checked for "no
server error, 404" (the JSON 404 of handler404: the test at the end). Documented but not
provoked here: 413 (a body over 64 KiB), 429 (rate limits are lifted in settings.test) and 503 (a
database outage; tests/test_database_unavailable.py, tests/test_fault_postgres.py).
`MINXIN_OPENAPI_EXAMPLES=200` runs more examples per operation (default 25).
"""

import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
import schemathesis
from django.conf import settings
from django.core import signals
from django.core.management import call_command
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from settings.openapi import document
from tests.conftest import netizen_cookie

EXAMPLES = int(os.environ.get("MINXIN_OPENAPI_EXAMPLES", "25"))
TALLY: Counter = Counter()  # (operation, persona, status) -> cases; printed with -s
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


# --- the document -------------------------------------------------------------------------------


@pytest.fixture
def served(db) -> dict:
    response = Client().get("/api/schema/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    return json.loads(response.content)


def test_the_served_document_is_the_module_s(served):
    assert served == json.loads(json.dumps(document()))


def test_the_document_is_valid_openapi(served):
    schema = schemathesis.openapi.from_dict(served)
    schema.validate()  # raises on any violation of the OpenAPI 3.1 meta-schema
    assert served["openapi"].startswith("3.1")

    def walk(node: object) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                target: object = served
                for part in ref.removeprefix("#/").split("/"):
                    assert isinstance(target, dict) and part in target, f"unresolved $ref {ref}"
                    target = target[part]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(served)


def test_every_error_response_is_the_documented_error_body(served):
    for path, operations in served["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert response == {"$ref": f"#/components/responses/Error{status}"}, (
                        method,
                        path,
                        status,
                    )
    for name, response in served["components"]["responses"].items():
        schema = response["content"]["application/json"]["schema"]
        assert schema["allOf"][0] == {"$ref": "#/components/schemas/Error"}, name
    error = served["components"]["schemas"]["Error"]["properties"]["error"]
    assert error["required"] == ["code", "message"]
    assert {"bad_request", "forbidden", "not_found", "conflict", "rate_limited"} <= set(
        error["properties"]["code"]["enum"]
    )


def _api_routes() -> set[str]:
    """Every route under /api/, as Django writes it (e.g. `api/broadcasts/<int:broadcast_id>/`)."""
    from settings.urls import api

    def routes(patterns: list, prefix: str) -> set[str]:
        found: set[str] = set()
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                found |= routes(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                found.add(prefix + str(pattern.pattern))
        return found

    mounted = [p for p in get_resolver().url_patterns if isinstance(p, URLResolver) and p.url_patterns is api]
    assert len(mounted) == 1, "the api list is mounted once"
    return routes(api, str(mounted[0].pattern))


def _sample(parameter: dict) -> str:
    schema = parameter["schema"]
    if "enum" in schema:
        return str(schema["enum"][0])
    return "7" if schema.get("type") == "integer" else "MX260101ABCDEF"


def _concrete(path: str, operations: dict, parameters: dict) -> str:
    """The documented path with a sample value for each path parameter."""
    for operation in operations.values():
        for parameter in operation.get("parameters", []):
            if "$ref" in parameter:
                parameter = parameters[parameter["$ref"].rsplit("/", 1)[1]]
            if parameter["in"] == "path":
                path = path.replace("{" + parameter["name"] + "}", _sample(parameter))
    assert "{" not in path, f"a path parameter of {path} is not declared"
    return path


def test_every_api_route_is_described_and_nothing_else(served):
    parameters = served["components"]["parameters"]
    described: dict[str, str] = {}
    for path, operations in served["paths"].items():
        concrete = _concrete(path, operations, parameters)
        described[concrete] = resolve(concrete).route  # Resolver404 for a path the server does not have
    routes = _api_routes()
    assert set(described.values()) <= routes
    missing = routes - set(described.values())
    assert not missing, f"routes without an OpenAPI description (<app>/openapi.py): {sorted(missing)}"


def test_each_path_is_described_beside_the_view_that_serves_it(served):
    """A path lives in the openapi.py of the app whose views.py answers it (docs/LAYOUT.md)."""
    from settings.openapi import PIECES

    parameters = served["components"]["parameters"]
    misplaced = []
    for piece in PIECES:
        app = piece.__name__.split(".")[0]
        for path, operations in piece.paths().items():
            view = resolve(_concrete(path, operations, parameters)).func
            if view.__module__.split(".")[0] != app:
                misplaced.append(f"{path}: in {piece.__name__}, served by {view.__module__}")
    assert not misplaced


# (method, path) → operationId. Clients generated from the document are named after these: a new
# operation adds a line; changing a line breaks every generated client, so don't.
OPERATION_IDS = {
    ("get", "/api/schema/"): "getOpenApiDocument",
    ("get", "/api/departments/"): "listDepartments",
    ("get", "/api/departments/scoreboard/"): "getScoreboard",
    ("get", "/api/assessment/"): "getAssessment",
    ("get", "/api/reports/"): "listReports",
    ("post", "/api/reports/"): "produceReport",
    ("get", "/api/reports/{report_id}/"): "getReport",
    ("get", "/api/search/"): "searchTranscripts",
    ("get", "/api/stats/"): "getStats",
    ("get", "/api/broadcasts/"): "listBroadcasts",
    ("get", "/api/broadcasts/{broadcast_id}/"): "getBroadcast",
    ("get", "/api/broadcasts/{broadcast_id}/events/"): "listBroadcastEvents",
    ("post", "/api/broadcasts/{broadcast_id}/questions/"): "askQuestion",
    ("get", "/api/broadcasts/{broadcast_id}/my-questions/"): "listMyQuestions",
    ("get", "/api/broadcasts/{broadcast_id}/supports/"): "getSupportCounts",
    ("get", "/api/broadcasts/{broadcast_id}/transcript/"): "getTranscript",
    ("get", "/api/netizen/"): "getNetizenIdentity",
    ("get", "/api/contact-accesses/"): "listContactAccesses",
    ("get", "/api/letters/"): "listLetters",
    ("post", "/api/letters/"): "postLetter",
    ("get", "/api/letters/{code}/"): "getLetter",
    ("post", "/api/letters/{code}/evaluation/"): "postLetterEvaluation",
    ("post", "/api/letters/{code}/erasure/"): "postLetterErasure",
    ("post", "/api/letters/{code}/contact/"): "openLetterContact",
    ("post", "/api/letters/{code}/forward/"): "forwardLetter",
    ("post", "/api/letters/{code}/sign/"): "signLetter",
    ("post", "/api/letters/{code}/return/"): "returnLetter",
    ("post", "/api/letters/{code}/extend/"): "requestLetterExtension",
    ("post", "/api/letters/{code}/reply/"): "replyToLetter",
    ("post", "/api/letters/{code}/redo/"): "redoLetter",
    ("post", "/api/letters/{code}/wrong-closure/"): "markLetterWrongClosure",
    ("post", "/api/letters/{code}/remind/"): "remindLetter",
    ("post", "/api/letters/{code}/extensions/{extension_id}/{decision}/"): "decideLetterExtension",
    ("post", "/api/letters/phone/"): "takePhoneLetter",
    ("post", "/api/letters/{code}/assign/"): "assignLetterToDivision",
    ("post", "/api/letters/{code}/draft/"): "draftLetterReply",
    ("post", "/api/letters/{code}/approve-draft/"): "approveLetterDraft",
    ("post", "/api/letters/{code}/return-draft/"): "returnLetterDraft",
    ("post", "/api/letters/{code}/callback/"): "recordLetterCallback",
}


def test_every_operation_has_a_unique_stable_operation_id(served):
    ids = {
        (method, path): operation.get("operationId")
        for path, operations in served["paths"].items()
        for method, operation in operations.items()
    }
    assert not [key for key, value in ids.items() if not value], "operations without an operationId"
    duplicated = [value for value, n in Counter(ids.values()).items() if n > 1]
    assert not duplicated, f"operationIds used twice: {duplicated}"
    assert all(re.fullmatch(r"[a-z]+(?:[A-Z][a-z]+)+", value) for value in ids.values())
    assert ids == OPERATION_IDS


def test_letter_steps_described_are_the_steps_the_view_takes(served):
    """`letters/<code>/<action>/` is described one action at a time; an undocumented action is 404."""
    from tests.conftest import make_staff

    documented = {
        m[1] for path in served["paths"] if (m := re.fullmatch(r"/api/letters/\{code\}/([a-z-]+)/", path))
    }
    assert documented == {
        "evaluation",
        "forward",
        "sign",
        "return",
        "extend",
        "reply",
        "redo",
        "wrong-closure",
        "remind",
        "erasure",
        "contact",
        "assign",
        "draft",
        "approve-draft",
        "return-draft",
        "callback",
    }
    client = Client()
    client.force_login(make_staff("olga", "operator"))
    response = client.post("/api/letters/MX260101ABCDEF/undocumented/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


# --- the generated run --------------------------------------------------------------------------


@dataclass
class Persona:
    name: str
    cookies: dict[str, str]
    headers: dict[str, str]


@dataclass
class World:
    broadcasts: list[int]
    letters: dict[str, str]  # code -> key
    extensions: dict[str, int]  # code -> a pending extension's id
    personas: dict[str, Persona]


def _logged_in(username: str) -> Persona:
    from django.contrib.auth import get_user_model

    client = Client()
    client.force_login(get_user_model().objects.get(username=username))
    token = _get_new_csrf_string()
    return Persona(
        username,
        {
            settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value,
            settings.CSRF_COOKIE_NAME: token,
        },
        {"X-CSRFToken": token},
    )


def _world() -> World:
    """The demo (registry, staff, two ended programmes and a live one) and letters in every state."""
    from django.contrib.auth import get_user_model

    from letters import services as letters
    from studio.models import Broadcast

    call_command("demo", quiet=True)
    users = {u.username: u for u in get_user_model().objects.filter(username__in=["operator", "handler_jtw"])}
    operator, handler = users["operator"], users["handler_jtw"]
    written: dict[str, str] = {}

    def write(subject: str, public: bool = True) -> str:
        data = {"kind": "complaint", "subject": subject, "body": "朝阳路站的站牌仍写着旧的首末班时间。"}
        answer = letters.submit({**data, "name": "王先生", "contact": "13800000000", "public": public})[0]
        written[answer["code"]] = answer["key"]
        return answer["code"]

    write("12路公交站牌信息有误")  # submitted
    letters.forward(write("公交站台雨棚破损"), "jtw", operator)  # forwarded
    signed = write("地铁换乘通道拥挤")
    letters.forward(signed, "jtw", operator)
    letters.sign(signed, handler)
    extension = letters.request_extension(signed, 5, "需要现场勘查", handler)
    for subject, close in (("夜班公交增开", False), ("共享单车乱停放", True)):
        code = write(subject)
        letters.forward(code, "jtw", operator)
        letters.sign(code, handler)
        letters.reply(code, "已协调运营企业处理。", handler)
        if close:
            letters.evaluate(code, written[code], "satisfied", "")
    write("私人来信", public=False)

    live = Client()
    broadcast_ids = list(Broadcast.objects.order_by("pk").values_list("pk", flat=True))
    netizen_cookie(live, broadcast_ids[-1])  # a netizen's browser: its identity and the CSRF cookie
    netizen_cookies = {name: morsel.value for name, morsel in live.cookies.items()}
    token = netizen_cookies[settings.CSRF_COOKIE_NAME]
    personas = {
        "anonymous": Persona("anonymous", {}, {}),
        "netizen": Persona("netizen", netizen_cookies, {"X-CSRFToken": token}),
        "netizen-without-csrf": Persona("netizen-without-csrf", netizen_cookies, {}),
        **{name: _logged_in(name) for name in ("handler_jtw", "operator", "supervisor")},
    }
    return World(broadcast_ids, written, {signed: extension.pk}, personas)


_current: list[World] = []


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker) -> Iterator[World]:
    """Built once for the module's operations, in a transaction rolled back at the end."""
    with django_db_blocker.unblock(), transaction.atomic():
        _current.append(_world())
        yield _current[0]
        _current.clear()
        transaction.set_rollback(True)
    if TALLY:
        operations = {op for op, _persona, _status in TALLY}
        statuses: Counter = Counter()
        for (_op, _persona, status), n in TALLY.items():
            statuses[status] += n
        print(
            f"\nschemathesis: {len(operations)} operations, {sum(TALLY.values())} cases, statuses {dict(sorted(statuses.items()))}"
        )
        for operation in sorted(operations):
            row: Counter = Counter()
            for (op, persona, status), n in TALLY.items():
                if op == operation:
                    row[f"{status} {persona}"] += n
            print(f"  {operation}: {dict(sorted(row.items()))}")


@contextmanager
def _connection_kept() -> Iterator[None]:
    """Like Django's test client: the WSGI handler must not close the test's connection after a request."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


# Loaded from the module (schemathesis' fixture-based loader does not run on pytest 9 yet); the
# served copy is compared with it in test_the_served_document_is_the_module_s.
schema = schemathesis.openapi.from_dict(document())
schema.app = get_wsgi_application()


@schema.hook
def flatmap_case(context, case):
    """Half the cases are about things that exist: a real programme, letter (with its key), extension."""
    if not case.path_parameters or not _current:
        return st.just(case)
    world = _current[0]
    codes = sorted(world.letters)

    def real(choice: tuple[int, str]) -> object:
        broadcast_id, code = choice
        parameters = dict(case.path_parameters)
        if "broadcast_id" in parameters:
            parameters["broadcast_id"] = broadcast_id
        if "code" in parameters:
            parameters["code"] = code
            if "extension_id" in parameters and code in world.extensions:
                parameters["extension_id"] = world.extensions[code]
            for part in (case.query, case.body):
                if isinstance(part, dict) and "key" in part:
                    part["key"] = world.letters[code]
        case.path_parameters = parameters
        return case

    return st.one_of(
        st.just(case), st.tuples(st.sampled_from(world.broadcasts), st.sampled_from(codes)).map(real)
    )


@schema.given(
    persona=st.sampled_from(
        ["anonymous", "netizen", "netizen-without-csrf", "handler_jtw", "operator", "supervisor"]
    )
)
@schema.parametrize()
@hypothesis_settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)
def test_the_server_answers_as_the_document_says(case, persona, world, db):
    who = world.personas[persona]
    with _connection_kept():
        if case.meta is not None and case.meta.is_negative_at(ParameterLocation.PATH):
            # A path parameter the URL patterns do not match (`-5`, `true`): Django's own 404 page,
            # not the API's JSON error; see test_an_id_that_is_not_a_number_gets_the_json_404.
            response = case.call(headers=who.headers, cookies=who.cookies)
            case.validate_response(response, checks=[not_a_server_error])
            # A value the URL pattern does match (`<str:decision>` = "0") reaches the view, and a
            # write without a valid CSRF pair is refused 403 before the view looks at it.
            assert response.status_code in (403, 404, 405), response.status_code
        else:
            response = case.call_and_validate(checks=CHECKS, headers=who.headers, cookies=who.cookies)
    TALLY[(f"{case.method} {case.operation.path}", persona, response.status_code)] += 1


def test_every_letter_step_succeeds_as_documented(world, db):
    """The generated run rarely meets the right role, letter and state at once; this walks one letter
    through every staff step over HTTP, each answer checked against the document like the run's."""
    from letters.models import Letter

    # One of the world's own letters (it knows their keys), not one of the demo's.
    code = (
        Letter.objects.filter(status="submitted", public=True, code__in=world.letters)
        .order_by("pk")
        .first()
        .code
    )
    steps = [
        ("operator", "/api/letters/{code}/forward/", {"department": "jtw"}, 200),
        ("handler_jtw", "/api/letters/{code}/sign/", None, 200),
        ("handler_jtw", "/api/letters/{code}/contact/", None, 200),
        ("supervisor", "/api/contact-accesses/", None, 200),
        ("handler_jtw", "/api/letters/{code}/extend/", {"days": 3, "reason": "需要现场勘查"}, 201),
        ("operator", "/api/letters/{code}/extensions/{extension_id}/{decision}/", None, 200),
        ("handler_jtw", "/api/letters/{code}/reply/", {"text": "已处理。"}, 200),
        (
            "anonymous",
            "/api/letters/{code}/evaluation/",
            {"key": world.letters[code], "rating": "basic"},
            200,
        ),
        ("supervisor", "/api/letters/{code}/wrong-closure/", {"reason": "未实际解决"}, 200),
        ("supervisor", "/api/letters/{code}/redo/", {"reason": "请重新办理"}, 200),
        ("handler_jtw", "/api/letters/{code}/return/", {"reason": "不属本部门"}, 200),
        ("anonymous", "/api/letters/{code}/erasure/", {"key": world.letters[code]}, 200),
        ("anonymous", "/api/letters/{code}/", None, 200),
    ]
    extension_id = None
    for persona, path, body, status in steps:
        who = world.personas[persona]
        parameters = {"code": code}
        if "{extension_id}" in path:
            parameters.update(extension_id=extension_id, decision="approve")
        method = "GET" if path in ("/api/letters/{code}/", "/api/contact-accesses/") else "POST"
        operation = schema[path][method]
        extra = {"body": body} if body is not None else {}
        if path == "/api/letters/{code}/":
            extra["query"] = {"key": world.letters[code]}
        case = operation.Case(path_parameters=parameters if "{code}" in path else {}, **extra)
        with _connection_kept():
            response = case.call_and_validate(checks=CHECKS, headers=who.headers, cookies=who.cookies)
        assert response.status_code == status, (path, response.status_code, response.text)
        if "extension" in response.json():
            extension_id = response.json()["extension"]["id"]
    assert response.json()["status"] == "submitted" and response.json()["redo_count"] == 1
    assert response.json()["contact"] == "" and response.json()["erasure"] == "writer"


def test_an_id_that_is_not_a_number_gets_the_json_404(db):
    for path in ("/api/broadcasts/-1/", "/api/broadcasts/true/transcript/"):
        response = Client().get(path)
        assert response.status_code == 404
        assert response["Content-Type"].startswith("application/json"), path
        assert response.json()["error"]["code"] == "not_found"
