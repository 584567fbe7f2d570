"""The working-day calendar that letter deadlines count in (letters/workdays.py).

Facts about 2026 come from chinese-calendar 1.11.0 (checked against the package in these tests
too): National Day is 1–7 October with Sunday 20 September and Saturday 10 October worked;
the Spring Festival is 15–23 February with Saturdays 14 and 28 February worked.
"""

import datetime as dt
from fractions import Fraction
from io import StringIO

import chinese_calendar
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from letters import admin as letters_admin
from letters.models import CalendarDay, CalendarYear
from letters.workdays import WorkCalendar, calendar_known, deadline_day

pytestmark = pytest.mark.django_db


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    """An instant in the site's time zone (Asia/Shanghai)."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=timezone.get_default_timezone())


def days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(n) for n in range((end - start).days + 1)]


def load(*args: str) -> str:
    out = StringIO()
    call_command("loadcalendar", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def calendar_2026(db) -> WorkCalendar:
    load("2026")
    return WorkCalendar()


# --- the calendar itself --------------------------------------------------------------------


def test_national_day_2026_is_counted_as_the_package_has_it(calendar_2026):
    for day in days(dt.date(2026, 9, 14), dt.date(2026, 10, 18)):
        assert calendar_2026.is_working_day(day) == chinese_calendar.is_workday(day), day
    assert [
        calendar_2026.is_working_day(day) for day in days(dt.date(2026, 10, 1), dt.date(2026, 10, 8))
    ] == [
        *[False] * 7,
        True,
    ]
    assert CalendarDay.objects.get(date=dt.date(2026, 10, 1)).name == "国庆节"
    assert CalendarDay.objects.get(date=dt.date(2026, 10, 10)).name == "调休上班（国庆节）"


def test_every_day_of_2026_matches_the_package_after_loading(calendar_2026):
    year = days(dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    assert [calendar_2026.is_working_day(day) for day in year] == [
        chinese_calendar.is_workday(d) for d in year
    ]


def test_only_the_exceptions_to_monday_to_friday_are_stored(calendar_2026):
    for day in CalendarDay.objects.all():
        assert day.is_working_day == (day.date.weekday() >= 5), day
    # 10-03 and 10-04 are National Day too, but a weekend rests anyway: nothing to store.
    assert not CalendarDay.objects.filter(date__in=[dt.date(2026, 10, 3), dt.date(2026, 10, 4)]).exists()


def test_spring_festival_2026_rests_nine_days_and_works_two_saturdays(calendar_2026):
    festival = days(dt.date(2026, 2, 15), dt.date(2026, 2, 23))
    assert not any(calendar_2026.is_working_day(day) for day in festival)
    assert calendar_2026.is_working_day(dt.date(2026, 2, 14))  # Saturday worked
    assert calendar_2026.is_working_day(dt.date(2026, 2, 28))  # Saturday worked
    assert calendar_2026.is_working_day(dt.date(2026, 2, 24))
    assert CalendarDay.objects.get(date=dt.date(2026, 2, 16)).name == "春节"


def test_a_swapped_working_saturday_counts_and_a_normal_weekend_does_not(calendar_2026):
    assert dt.date(2026, 10, 10).weekday() == 5
    assert calendar_2026.is_working_day(dt.date(2026, 10, 10))
    assert not calendar_2026.is_working_day(dt.date(2026, 10, 17))
    assert not calendar_2026.is_working_day(dt.date(2026, 10, 18))


def test_a_year_without_a_calendar_counts_monday_to_friday(calendar_2026):
    calendar = WorkCalendar()
    # 1 January 2027 will surely be a holiday, but nobody has entered 2027 yet.
    assert calendar.is_working_day(dt.date(2027, 1, 1))
    assert not calendar.is_working_day(dt.date(2027, 1, 2))
    assert calendar.is_working_day(dt.date(2027, 1, 4))
    assert calendar_known(2027) is False
    assert calendar.calendar_known(2027) is False
    assert calendar_known(2026) is True
    assert calendar.years_without_calendar([dt.date(2026, 12, 30), dt.date(2027, 1, 5)]) == {2027}


def test_years_without_calendar_refuses_a_datetime_whose_day_is_ambiguous(db):
    with pytest.raises(TypeError):
        WorkCalendar().years_without_calendar([at(2027, 1, 1)])


def test_the_calendar_reads_the_database_once_for_the_years_a_deadline_spans(
    calendar_2026, django_assert_num_queries
):
    calendar = WorkCalendar()
    with django_assert_num_queries(1):
        calendar.add_working_days(at(2026, 12, 20, 10), 10)
        calendar.add_working_days(at(2026, 12, 21, 10), 5)
        assert calendar.is_working_day(dt.date(2027, 1, 8))


# --- deadlines ------------------------------------------------------------------------------


def test_a_deadline_ends_at_midnight_after_the_nth_working_day_following_arrival(calendar_2026):
    deadline = calendar_2026.add_working_days(at(2026, 11, 23, 9), 3)  # Monday
    assert deadline == at(2026, 11, 27)  # Thursday 24:00
    assert deadline_day(deadline) == dt.date(2026, 11, 26)


def test_a_letter_forwarded_on_friday_afternoon_with_one_day_is_due_monday_midnight(calendar_2026):
    deadline = calendar_2026.add_working_days(at(2026, 11, 20, 16), 1)  # Friday 16:00
    assert deadline_day(deadline) == dt.date(2026, 11, 23)  # Monday
    assert deadline == at(2026, 11, 24)


def test_a_deadline_skips_the_national_day_holiday_and_counts_the_swapped_saturday(calendar_2026):
    # Tuesday 29 Sept: 30 Sept, then 8, 9 and (Saturday, worked) 10 October.
    deadline = calendar_2026.add_working_days(at(2026, 9, 29, 9), 4)
    assert deadline_day(deadline) == dt.date(2026, 10, 10)


def test_a_letter_forwarded_on_a_holiday_starts_counting_at_the_next_working_day(calendar_2026):
    deadline = calendar_2026.add_working_days(at(2026, 10, 3, 12), 1)
    assert deadline_day(deadline) == dt.date(2026, 10, 8)
    assert calendar_2026.add_working_days(at(2026, 10, 1, 0), 1) == deadline


def test_a_december_deadline_reaching_2027_counts_monday_to_friday_there(calendar_2026):
    start = at(2026, 12, 28, 10)  # Monday
    deadline = calendar_2026.add_working_days(start, 5)
    # 29, 30, 31 December, then Friday 1 January (no 2027 calendar yet) and Monday 4 January.
    assert deadline_day(deadline) == dt.date(2027, 1, 4)
    assert calendar_2026.years_without_calendar([start.date(), deadline_day(deadline)]) == {2027}


def test_entering_2027_moves_a_deadline_recomputed_from_its_start(calendar_2026):
    start = at(2026, 12, 28, 10)
    year = CalendarYear.objects.create(year=2027)
    CalendarDay.objects.create(calendar=year, date=dt.date(2027, 1, 1), is_working_day=False, name="元旦")
    assert deadline_day(WorkCalendar().add_working_days(start, 5)) == dt.date(2027, 1, 5)


def test_an_extension_is_a_longer_count_from_the_same_start(calendar_2026):
    start = at(2026, 9, 29, 9)
    first = calendar_2026.add_working_days(start, 1)
    extended = calendar_2026.add_working_days(start, 1 + 2)
    assert deadline_day(first) == dt.date(2026, 9, 30)
    assert deadline_day(extended) == dt.date(2026, 10, 9)


def test_a_limit_of_zero_working_days_or_a_naive_start_is_refused(calendar_2026):
    with pytest.raises(ValueError):
        calendar_2026.add_working_days(at(2026, 11, 23), 0)
    with pytest.raises(ValueError):
        calendar_2026.add_working_days(dt.datetime(2026, 11, 23, 9), 1)
    with pytest.raises(ValueError):
        calendar_2026.add_hours(dt.datetime(2026, 11, 23, 9), 1)


def test_a_limit_in_hours_runs_through_nights_and_holidays(calendar_2026):
    assert calendar_2026.add_hours(at(2026, 10, 1, 10), 48) == at(2026, 10, 3, 10)
    assert calendar_2026.add_hours(at(2026, 11, 20, 16), 24) == at(2026, 11, 21, 16)


# --- the share of a limit that has passed (the yellow light at 1/3) -------------------------


def test_the_share_of_a_limit_is_zero_at_the_start_a_third_after_a_third_and_one_past_the_deadline(
    calendar_2026,
):
    start = at(2026, 11, 23, 9)  # Monday; 3 working days: Tue, Wed, Thu
    deadline = calendar_2026.add_working_days(start, 3)
    share = calendar_2026.working_time_share
    assert share(start, deadline, start) == 0
    assert share(start, deadline, at(2026, 11, 23, 23)) == 0  # the arrival day is not counted
    assert share(start, deadline, at(2026, 11, 24, 12)) == Fraction(1, 6)
    assert share(start, deadline, at(2026, 11, 25)) == Fraction(1, 3)
    assert share(start, deadline, deadline) == 1
    assert share(start, deadline, at(2026, 12, 1, 9)) == 1


def test_a_weekend_inside_the_limit_does_not_eat_into_it(calendar_2026):
    start = at(2026, 11, 19, 10)  # Thursday; 3 working days: Fri, Mon, Tue
    deadline = calendar_2026.add_working_days(start, 3)
    assert deadline_day(deadline) == dt.date(2026, 11, 24)
    share = calendar_2026.working_time_share
    assert share(start, deadline, at(2026, 11, 21, 12)) == Fraction(1, 3)  # Saturday
    assert share(start, deadline, at(2026, 11, 22, 23)) == Fraction(1, 3)  # Sunday night
    assert share(start, deadline, at(2026, 11, 23, 12)) == Fraction(1, 2)  # Monday noon


def test_the_national_day_holiday_does_not_eat_into_a_limit(calendar_2026):
    start = at(2026, 9, 29, 9)  # 3 working days: 30 Sept, 8 and 9 Oct
    deadline = calendar_2026.add_working_days(start, 3)
    share = calendar_2026.working_time_share
    assert share(start, deadline, at(2026, 10, 5, 12)) == Fraction(1, 3)
    assert share(start, deadline, at(2026, 10, 9)) == Fraction(2, 3)


def test_the_share_of_a_limit_in_hours_is_plain_clock_time(calendar_2026):
    start = at(2026, 10, 2, 10)  # a holiday: it counts for hours
    deadline = calendar_2026.add_hours(start, 24)
    share = calendar_2026.working_time_share
    assert share(start, deadline, start, working_days=False) == 0
    assert share(start, deadline, at(2026, 10, 2, 18), working_days=False) == Fraction(1, 3)
    assert share(start, deadline, at(2026, 10, 4), working_days=False) == 1


def test_the_instant_a_share_is_reached_is_when_the_light_turns_yellow(calendar_2026):
    third = Fraction(1, 3)
    one_microsecond = dt.timedelta(microseconds=1)
    cases = [
        (at(2026, 11, 19, 10), calendar_2026.add_working_days(at(2026, 11, 19, 10), 3), True),
        (at(2026, 9, 29, 9), calendar_2026.add_working_days(at(2026, 9, 29, 9), 5), True),
        (at(2026, 11, 20, 16, 7), calendar_2026.add_hours(at(2026, 11, 20, 16, 7), 7), False),
    ]
    for start, deadline, working_days in cases:
        yellow = calendar_2026.share_reached_at(start, deadline, third, working_days=working_days)
        assert calendar_2026.working_time_share(start, deadline, yellow, working_days=working_days) >= third
        before = yellow - one_microsecond
        assert calendar_2026.working_time_share(start, deadline, before, working_days=working_days) < third
    # A Thursday letter with 3 days turns yellow when Friday ends, not during the weekend.
    assert calendar_2026.share_reached_at(cases[0][0], cases[0][1], third) == at(2026, 11, 21)


# --- loading the calendar -------------------------------------------------------------------


def test_loading_a_year_the_package_does_not_know_fails_clearly_and_stores_nothing(db):
    with pytest.raises(CommandError, match=r"no calendar for 2027.*admin"):
        load("2027")
    with pytest.raises(CommandError, match="2027"):
        load("2026", "2027")
    assert not CalendarYear.objects.exists()
    assert not CalendarDay.objects.exists()


def test_loading_a_year_twice_keeps_one_row_per_day(db):
    load("2026")
    first = sorted(CalendarDay.objects.values_list("date", "is_working_day", "name"))
    output = load("2026")
    assert "Reloaded 2026" in output
    assert sorted(CalendarDay.objects.values_list("date", "is_working_day", "name")) == first
    assert CalendarYear.objects.get().source == "chinese-calendar 1.11.0"


def test_reloading_a_year_replaces_an_operators_edits_with_the_packages_days(calendar_2026):
    year = CalendarYear.objects.get(year=2026)
    year.days.filter(date=dt.date(2026, 10, 1)).delete()
    CalendarYear.objects.filter(pk=year.pk).update(source="operator")
    load("2026")
    assert not WorkCalendar().is_working_day(dt.date(2026, 10, 1))
    assert CalendarYear.objects.get().source == "chinese-calendar 1.11.0"


def test_loading_all_known_years_loads_2004_to_2026(db):
    load("--all-known")
    assert list(CalendarYear.objects.order_by("year").values_list("year", flat=True)) == list(
        range(2004, 2027)
    )
    # 2020's Spring Festival was extended to 2 February.
    assert not WorkCalendar().is_working_day(dt.date(2020, 1, 31))


def test_loading_without_years_asks_for_them(db):
    with pytest.raises(CommandError, match="--all-known"):
        load()


# --- the admin ------------------------------------------------------------------------------


@pytest.fixture
def admin_user_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("calendar-admin", "", "pw")
    client.force_login(user)
    return client


def test_the_calendar_admin_lists_the_years_for_a_superuser(calendar_2026, admin_user_client):
    response = admin_user_client.get("/admin/letters/calendaryear/")
    assert response.status_code == 200
    assert "2026" in response.content.decode()
    year = CalendarYear.objects.get(year=2026)
    assert admin_user_client.get(f"/admin/letters/calendaryear/{year.pk}/change/").status_code == 200


def _year_form(year: str, *rows: tuple[str, bool, str]) -> dict[str, str]:
    data = {
        "year": year,
        "note": "国办发明电〔2026〕",
        "days-TOTAL_FORMS": str(len(rows)),
        "days-INITIAL_FORMS": "0",
        "days-MIN_NUM_FORMS": "0",
        "days-MAX_NUM_FORMS": "1000",
    }
    for n, (date, working, name) in enumerate(rows):
        data[f"days-{n}-date"] = date
        data[f"days-{n}-name"] = name
        if working:
            data[f"days-{n}-is_working_day"] = "on"
    return data


def test_an_operator_enters_2027_in_the_admin_and_open_deadlines_are_told(
    calendar_2026, admin_user_client, monkeypatch
):
    changed: list[set[int]] = []
    monkeypatch.setattr(letters_admin, "calendar_changed", lambda years: changed.append(set(years)))
    data = _year_form("2027", ("2027-01-01", False, "元旦"), ("2027-01-09", True, "调休上班"))
    response = admin_user_client.post("/admin/letters/calendaryear/add/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert changed == [{2027}]
    assert calendar_known(2027)
    assert CalendarYear.objects.get(year=2027).source == "operator"
    calendar = WorkCalendar()
    assert not calendar.is_working_day(dt.date(2027, 1, 1))
    assert calendar.is_working_day(dt.date(2027, 1, 9))

    year = CalendarYear.objects.get(year=2027)
    response = admin_user_client.post(f"/admin/letters/calendaryear/{year.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert changed == [{2027}, {2027}]
    assert not calendar_known(2027)


def test_the_admin_refuses_a_day_filed_under_another_year(calendar_2026, admin_user_client):
    data = _year_form("2027", ("2026-12-31", False, "元旦"))
    response = admin_user_client.post("/admin/letters/calendaryear/add/", data, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert "The date must lie in 2027." in response.content.decode()
    assert not calendar_known(2027)
    assert CalendarDay.objects.filter(date=dt.date(2026, 12, 31)).count() == 0
