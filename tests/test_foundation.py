"""The foundation: strict settings, the department registry and its API, staff accounts, the home page."""

import io
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from departments.models import TIMED_KINDS, Department, LetterKind, TimeLimit
from departments.roles import ROLES, has_role
from settings import env

ROOT = Path(__file__).resolve().parent.parent
DATA = json.loads((ROOT / "departments" / "data" / "departments.json").read_text(encoding="utf-8"))
VAR = "MINXIN_PROBE"  # a variable nothing else reads


@pytest.fixture(autouse=True)
def _clean_probe(monkeypatch):
    monkeypatch.delenv(VAR, raising=False)
    monkeypatch.delenv(f"{VAR}_FILE", raising=False)


def raises_naming(name: str):
    """pytest.raises(ImproperlyConfigured) whose message must name the variable."""
    return pytest.raises(ImproperlyConfigured, match=name)


# --- settings/env.py ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("True", True), ("true", True), ("1", True), ("False", False), ("false", False), ("0", False)],
)
def test_a_boolean_variable_accepts_the_usual_spellings_of_true_and_false(monkeypatch, raw, expected):
    monkeypatch.setenv(VAR, raw)
    assert env.env_bool(VAR, not expected) is expected


def test_an_unset_or_empty_boolean_variable_takes_the_default(monkeypatch):
    assert env.env_bool(VAR, True) is True
    monkeypatch.setenv(VAR, "")
    assert env.env_bool(VAR, False) is False


@pytest.mark.parametrize("raw", ["yes", "on", "2", "nope"])
def test_a_boolean_variable_with_any_other_value_stops_start_up_naming_the_variable(monkeypatch, raw):
    monkeypatch.setenv(VAR, raw)
    with raises_naming(VAR):
        env.env_bool(VAR, True)


def test_a_number_variable_reads_a_whole_number_and_defaults_when_unset(monkeypatch):
    assert env.env_int(VAR, 5) == 5
    monkeypatch.setenv(VAR, "12")
    assert env.env_int(VAR, 5) == 12
    monkeypatch.setenv(VAR, "")
    assert env.env_int(VAR, 5) == 5


@pytest.mark.parametrize("raw", ["five", "1.5", "0x10", "3s"])
def test_a_number_variable_that_is_not_a_whole_number_stops_start_up_naming_the_variable(monkeypatch, raw):
    monkeypatch.setenv(VAR, raw)
    with raises_naming(VAR):
        env.env_int(VAR, 5)


def test_a_number_variable_below_its_minimum_stops_start_up_naming_the_variable(monkeypatch):
    monkeypatch.setenv(VAR, "0")
    with raises_naming(VAR):
        env.env_int(VAR, 5, minimum=1)
    monkeypatch.setenv(VAR, "-3")
    with raises_naming(VAR):
        env.env_int(VAR, 5)
    monkeypatch.setenv(VAR, "1")
    assert env.env_int(VAR, 5, minimum=1) == 1


def test_a_list_variable_splits_on_commas_and_trims_spaces(monkeypatch):
    monkeypatch.setenv(VAR, "minxin.example.org, 127.0.0.1 ,localhost")
    assert env.env_list(VAR, ["x"]) == ["minxin.example.org", "127.0.0.1", "localhost"]
    monkeypatch.setenv(VAR, "   ")
    assert env.env_list(VAR, ["x"]) == ["x"]
    monkeypatch.delenv(VAR)
    assert env.env_list(VAR, ["x"]) == ["x"]


@pytest.mark.parametrize("raw", ["a,,b", "a,", ",a", "a, ,b"])
def test_a_list_variable_with_an_empty_item_stops_start_up_naming_the_variable(monkeypatch, raw):
    monkeypatch.setenv(VAR, raw)
    with raises_naming(VAR):
        env.env_list(VAR, [])


def test_a_time_zone_variable_accepts_a_real_zone_and_defaults_when_unset(monkeypatch):
    assert env.env_time_zone(VAR, "Asia/Shanghai") == "Asia/Shanghai"
    monkeypatch.setenv(VAR, "Europe/Berlin")
    assert env.env_time_zone(VAR, "Asia/Shanghai") == "Europe/Berlin"


@pytest.mark.parametrize("raw", ["Mars/Base", "../etc/passwd", "Asia/Shanghai "])
def test_an_unknown_time_zone_stops_start_up_naming_the_variable(monkeypatch, raw):
    monkeypatch.setenv(VAR, raw)
    with raises_naming(VAR):
        env.env_time_zone(VAR, "Asia/Shanghai")


def test_an_unset_database_variable_means_the_embedded_sqlite_file_whose_folder_is_created(tmp_path):
    path = tmp_path / "new-folder" / "minxin.sqlite3"
    config = env.env_database(VAR, path)
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert config["NAME"] == str(path)
    assert path.parent.is_dir()


def test_a_postgres_database_url_becomes_the_matching_connection_settings(monkeypatch, tmp_path):
    monkeypatch.setenv(VAR, "postgres://minxin:s3cret@db.internal:5433/hotline")
    config = env.env_database(VAR, tmp_path / "unused.sqlite3")
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["USER"], config["PASSWORD"], config["HOST"], config["PORT"], config["NAME"]) == (
        "minxin",
        "s3cret",
        "db.internal",
        5433,
        "hotline",
    )
    assert not (tmp_path / "unused.sqlite3").exists()


def test_postgres_connections_come_from_a_bounded_pool_and_are_never_persistent(monkeypatch, tmp_path):
    monkeypatch.setenv(VAR, "postgres://minxin@db.internal/hotline")
    monkeypatch.delenv("MINXIN_DB_POOL_MAX_SIZE", raising=False)
    monkeypatch.delenv("MINXIN_DB_POOL_TIMEOUT", raising=False)
    config = env.env_database(VAR, tmp_path / "unused.sqlite3")
    assert config["CONN_MAX_AGE"] == 0  # Django refuses a pool with persistent connections
    assert config["OPTIONS"]["pool"] == {
        "min_size": 0,
        "max_size": 10,
        "timeout": 10,
        "reconnect_timeout": 10,
    }
    monkeypatch.setenv("MINXIN_DB_POOL_MAX_SIZE", "4")
    monkeypatch.setenv("MINXIN_DB_POOL_TIMEOUT", "1")
    pool = env.env_database(VAR, tmp_path / "unused.sqlite3")["OPTIONS"]["pool"]
    assert (pool["max_size"], pool["timeout"]) == (4, 1)
    for name, raw in [("MINXIN_DB_POOL_MAX_SIZE", "0"), ("MINXIN_DB_POOL_TIMEOUT", "2.5")]:
        monkeypatch.setenv(name, raw)
        with raises_naming(name):
            env.env_database(VAR, tmp_path / "unused.sqlite3")
        monkeypatch.setenv(name, "2")


def test_the_embedded_sqlite_file_has_no_pool(tmp_path):
    assert "pool" not in env.env_database(VAR, tmp_path / "minxin.sqlite3")["OPTIONS"]


@pytest.mark.parametrize(
    "raw",
    [
        "mysql://x/y",
        "sqlite:///var/minxin.sqlite3",
        "db.internal/hotline",
        "postgres://db.internal/",
        "postgres://db.internal",
        "postgres://db.internal:port/hotline",
    ],
)
def test_a_database_url_that_is_not_a_usable_postgres_url_stops_start_up_naming_the_variable(
    monkeypatch, tmp_path, raw
):
    monkeypatch.setenv(VAR, raw)
    with raises_naming(VAR):
        env.env_database(VAR, tmp_path / "unused.sqlite3")


@pytest.mark.parametrize(
    "raw",
    ["redis://127.0.0.1:6379/0", "rediss://cache.internal:6380/2", "redis://cache", "unix:///run/redis.sock"],
)
def test_a_redis_url_is_accepted_as_given(monkeypatch, raw):
    monkeypatch.setenv(VAR, raw)
    assert env.env_redis_url(VAR) == raw


def test_an_unset_redis_url_means_no_redis(monkeypatch):
    assert env.env_redis_url(VAR) is None
    monkeypatch.setenv(VAR, "")
    assert env.env_redis_url(VAR) is None


@pytest.mark.parametrize(
    "raw", ["http://127.0.0.1:6379/0", "redis://", "127.0.0.1:6379", "redis://cache:six/0"]
)
def test_a_malformed_redis_url_stops_start_up_naming_the_variable(monkeypatch, raw):
    monkeypatch.setenv(VAR, raw)
    with raises_naming(VAR):
        env.env_redis_url(VAR)


def test_a_required_string_must_be_set_and_not_empty(monkeypatch):
    with raises_naming(VAR):
        env.env_str(VAR, required=True)
    monkeypatch.setenv(VAR, "")
    with raises_naming(VAR):
        env.env_str(VAR, required=True)
    monkeypatch.setenv(VAR, "value")
    assert env.env_str(VAR, required=True) == "value"


def test_an_optional_string_defaults_when_unset_or_empty(monkeypatch):
    assert env.env_str(VAR, "fallback") == "fallback"
    monkeypatch.setenv(VAR, "")
    assert env.env_str(VAR, "fallback") == "fallback"


def test_a_secret_can_come_from_the_file_that_name_file_points_at(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("  file-secret\n", encoding="utf-8")
    monkeypatch.setenv(f"{VAR}_FILE", str(secret))
    assert env.env_str(VAR, required=True) == "file-secret"
    secret.write_text("42\n", encoding="utf-8")
    assert env.env_int(VAR, 5) == 42
    secret.write_text("false\n", encoding="utf-8")
    assert env.env_bool(VAR, True) is False


def test_an_unreadable_name_file_stops_start_up_naming_name_file(monkeypatch, tmp_path):
    monkeypatch.setenv(f"{VAR}_FILE", str(tmp_path / "missing"))
    with raises_naming(f"{VAR}_FILE"):
        env.env_str(VAR)


def test_setting_both_name_and_name_file_stops_start_up_naming_both(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("from-file", encoding="utf-8")
    monkeypatch.setenv(VAR, "from-env")
    monkeypatch.setenv(f"{VAR}_FILE", str(secret))
    with pytest.raises(ImproperlyConfigured) as caught:
        env.env_str(VAR)
    assert f"{VAR} and {VAR}_FILE" in str(caught.value)


# --- settings.prod in a fresh interpreter ---------------------------------------------------


def import_prod(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess:
    cleared = {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "TIME_ZONE", "DEBUG", "ALLOWED_HOSTS"}
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in cleared
        and not (k.endswith("_FILE") and k[:-5] in cleared)
        and k != "DJANGO_SETTINGS_MODULE"
    }
    base["SQLITE_PATH"] = str(tmp_path / "prod.sqlite3")
    return subprocess.run(
        [sys.executable, "-c", "import settings.prod as s; print(s.DEBUG, s.SECRET_KEY, s.TIME_ZONE)"],
        cwd=ROOT,
        env={**base, **variables},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_settings_refuse_to_start_without_a_secret_key(tmp_path):
    result = import_prod(tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr and "BadSetting" in result.stderr


def test_production_settings_start_with_a_secret_key_and_never_debug(tmp_path):
    result = import_prod(tmp_path, SECRET_KEY="prod-secret", DEBUG="true")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "prod-secret", "Asia/Shanghai"]


def test_production_settings_read_the_secret_key_from_a_file(tmp_path):
    secret = tmp_path / "secret_key"
    secret.write_text("mounted-secret\n", encoding="utf-8")
    result = import_prod(tmp_path, SECRET_KEY_FILE=str(secret))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[1] == "mounted-secret"


def test_production_settings_refuse_a_mysql_database_url_naming_it(tmp_path):
    result = import_prod(tmp_path, SECRET_KEY="prod-secret", DATABASE_URL="mysql://x/y")
    assert result.returncode != 0
    assert "DATABASE_URL" in result.stderr and "BadSetting" in result.stderr


def test_production_settings_refuse_an_unknown_time_zone_naming_it(tmp_path):
    result = import_prod(tmp_path, SECRET_KEY="prod-secret", TIME_ZONE="Mars/Base")
    assert result.returncode != 0
    assert "TIME_ZONE" in result.stderr and "Mars/Base" in result.stderr


# --- the department registry --------------------------------------------------------------


def test_the_registry_loads_all_74_departments_of_the_three_kinds(db):
    from departments.registry import load_registry

    assert load_registry() == 74
    assert Department.objects.count() == 74
    assert Department.objects.filter(kind="district").count() == 16
    assert Department.objects.filter(kind="municipal").count() == 44
    assert Department.objects.filter(kind="public_service").count() == 14


def test_loading_the_registry_twice_keeps_74_departments_and_updates_renamed_ones(db):
    from departments.registry import load_registry

    load_registry()
    Department.objects.filter(code="dongcheng").update(short_name="旧名")
    load_registry()
    assert Department.objects.count() == 74
    assert Department.objects.get(code="dongcheng").short_name == "东城区"


def get_departments(query: str = "") -> dict:
    response = Client().get(f"/api/departments/{query}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    return response.json()


def test_the_api_lists_the_registry_in_display_order(registry):
    listed = get_departments()["departments"]
    expected = sorted(DATA, key=lambda row: (row["order"], row["code"]))
    assert [d["code"] for d in listed] == [row["code"] for row in expected]
    first = listed[0]
    assert first == {
        **first,
        "code": "dongcheng",
        "name": "北京市东城区人民政府",
        "short_name": "东城区",
        "kind": "district",
        "active": True,
    }


def test_every_department_carries_the_default_time_limits_for_all_five_letter_kinds(registry):
    listed = get_departments()["departments"]
    assert len(listed) == 74
    expected_reply = {"consultation": 5, "opinion": 10, "suggestion": 10, "report": 15, "complaint": 10}
    for department in listed:
        limits = department["time_limits"]
        # Thank-you letters have no time limit (and no light): the registry lists the other five.
        assert set(limits) == {kind for kind, _label in TIMED_KINDS} == set(LetterKind.values) - {"thanks"}
        for kind, reply in expected_reply.items():
            assert limits[kind] == {
                "sign": {"limit": 1, "unit": "working_days"},
                "reply": {"limit": reply, "unit": "working_days"},
                "yellow_share": "1/3",
            }


def test_a_department_specific_time_limit_overrides_the_default_for_that_department_only(registry):
    jtw = Department.objects.get(code="jtw")
    TimeLimit.objects.create(
        department=jtw,
        letter_kind="consultation",
        sign_limit=4,
        sign_unit="hours",
        reply_limit=3,
        yellow_numerator=1,
        yellow_denominator=2,
    )
    by_code = {d["code"]: d for d in get_departments()["departments"]}
    assert by_code["jtw"]["time_limits"]["consultation"] == {
        "sign": {"limit": 4, "unit": "hours"},
        "reply": {"limit": 3, "unit": "working_days"},
        "yellow_share": "1/2",
    }
    # jtw's other kinds keep the defaults, and other departments are untouched.
    assert by_code["jtw"]["time_limits"]["report"]["reply"] == {"limit": 15, "unit": "working_days"}
    assert by_code["swj"]["time_limits"]["consultation"]["reply"] == {"limit": 5, "unit": "working_days"}
    assert by_code["dongcheng"]["time_limits"]["consultation"]["sign"] == {"limit": 1, "unit": "working_days"}


@pytest.mark.parametrize(("kind", "count"), [("district", 16), ("municipal", 44), ("public_service", 14)])
def test_the_api_filters_by_kind(registry, kind, count):
    listed = get_departments(f"?kind={kind}")["departments"]
    assert len(listed) == count
    assert {d["kind"] for d in listed} == {kind}


def test_an_unknown_kind_is_a_400_with_an_error_code(registry):
    response = Client().get("/api/departments/?kind=bogus")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "bad_request"
    assert "district" in error["message"]


def test_inactive_departments_are_hidden_unless_all_is_asked_for(registry):
    Department.objects.filter(code="swj").update(active=False)
    assert "swj" not in [d["code"] for d in get_departments()["departments"]]
    assert len(get_departments()["departments"]) == 73
    everything = {d["code"]: d for d in get_departments("?all=1")["departments"]}
    assert len(everything) == 74
    assert everything["swj"]["active"] is False


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_the_registry_cannot_be_changed_through_the_api(registry, method):
    response = getattr(Client(), method)("/api/departments/", data={}, content_type="application/json")
    assert response.status_code == 405
    assert Department.objects.count() == 74


# --- createstaff ----------------------------------------------------------------------------


def createstaff(username: str, role: str, password: str = "a-long-password", **options):
    call_command("createstaff", username, role=role, password=password, stdout=io.StringIO(), **options)


@pytest.mark.parametrize("role", list(ROLES))
def test_createstaff_makes_an_account_with_exactly_that_role_that_can_log_in(registry, role):
    options = {"department": "jtw"} if ROLES[role].needs_department else {}
    createstaff("staffer", role, password="s3cret-pass", name="王五", **options)
    user = get_user_model().objects.get(username="staffer")
    assert list(user.groups.values_list("name", flat=True)) == [role]
    assert has_role(user, role)
    for other in ROLES:
        if other != role:
            assert not has_role(user, other), other
    assert user.first_name == "王五" and user.is_staff
    assert Client().login(username="staffer", password="s3cret-pass")
    assert not Client().login(username="staffer", password="wrong")


def test_a_handler_belongs_to_the_department_given(registry):
    createstaff("hank", "handler", department="jtw")
    assert get_user_model().objects.get(username="hank").staff.department.code == "jtw"


def test_a_guest_keeps_department_and_title(registry):
    createstaff("grace", "guest", department="swj", title="市水务局新闻发言人")
    staff = get_user_model().objects.get(username="grace").staff
    assert (staff.department.code, staff.title) == ("swj", "市水务局新闻发言人")


def test_an_unknown_role_is_refused_naming_the_valid_roles_and_creates_nobody(registry):
    with pytest.raises(CommandError) as caught:
        createstaff("eve", "admin")
    for role in ROLES:
        assert role in str(caught.value)
    assert not get_user_model().objects.filter(username="eve").exists()


def test_an_unknown_department_is_refused_and_creates_nobody(registry):
    with pytest.raises(CommandError, match="nowhere"):
        createstaff("eve", "handler", department="nowhere")
    assert not get_user_model().objects.filter(username="eve").exists()


def test_a_handler_without_a_department_is_refused_and_creates_nobody(registry):
    with pytest.raises(CommandError, match="--department"):
        createstaff("eve", "handler")
    assert not get_user_model().objects.filter(username="eve").exists()


def test_running_createstaff_twice_updates_the_same_account(registry):
    createstaff("mona", "moderator", password="first-password")
    createstaff("mona", "moderator", password="second-password", name="莫娜")
    users = get_user_model().objects.filter(username="mona")
    assert users.count() == 1
    user = users.get()
    assert user.groups.filter(name="moderator").count() == 1
    assert user.first_name == "莫娜"
    assert Client().login(username="mona", password="second-password")
    assert not Client().login(username="mona", password="first-password")


def test_createstaff_can_give_an_existing_account_a_further_role(registry):
    createstaff("harry", "host")
    createstaff("harry", "moderator")
    user = get_user_model().objects.get(username="harry")
    assert has_role(user, "moderator")
    assert get_user_model().objects.filter(username="harry").count() == 1


# --- pages ---------------------------------------------------------------------------------


def test_the_home_page_is_in_chinese_by_default_and_lists_the_registry(registry):
    response = Client().get("/")
    assert response.status_code == 200
    body = response.content.decode()
    assert '<html lang="zh-hans"' in body
    for row in DATA:
        assert f'<li title="{row["name"]}">{row["short_name"]}</li>' in body


def test_the_home_page_leaves_out_inactive_departments(registry):
    Department.objects.filter(code="swj").update(active=False)
    body = Client().get("/").content.decode()
    assert 'title="北京市水务局"' not in body
    assert "东城区" in body


def test_the_home_page_follows_a_browser_that_asks_for_english(registry):
    response = Client().get("/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert '<html lang="en"' in response.content.decode()


def test_the_login_page_has_a_username_and_a_password_field(db):
    response = Client().get("/accounts/login/")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="username"' in body
    assert 'name="password" type="password"' in body
    assert "csrfmiddlewaretoken" in body


def test_staff_log_in_through_the_login_page(registry):
    createstaff("olga", "operator", password="operator-pass")
    client = Client()
    response = client.post("/accounts/login/", {"username": "olga", "password": "operator-pass"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert "olga" in client.get("/").content.decode()
    refused = Client().post("/accounts/login/", {"username": "olga", "password": "nope"})
    assert refused.status_code == 200 and 'role="alert"' in refused.content.decode()


@pytest.mark.processes
def test_a_real_daphne_process_serves_the_home_page_with_the_registry(daphne):
    from departments.registry import load_registry

    load_registry()
    server = daphne()
    with urllib.request.urlopen(f"{server.url}/", timeout=10) as response:
        assert response.status == 200
        body = response.read().decode()
    assert '<li title="北京市东城区人民政府">东城区</li>' in body
    assert '<li title="北京市交通委员会">市交通委</li>' in body
    with urllib.request.urlopen(f"{server.url}/api/departments/?kind=district", timeout=10) as response:
        assert len(json.loads(response.read())["departments"]) == 16
