"""Who the simulation needs before anything happens: the registry, staff accounts, banned words.

Shared by both halves of `manage.py simulate` and their tests. Staff are made as `createstaff`
makes them (a role's group, a StaffProfile with department and title) but without a usable
password: hashing hundreds of passwords would cost minutes, and nobody signs in as a simulated
guest. Everything here is safe to run twice.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, User

from departments.models import Department, StaffProfile
from departments.registry import load_registry
from departments.roles import ensure_role_groups

# The lists a simulated year is screened with (moderation/screening.py): a question with a block
# word is refused outright, one with a review word reaches the moderator flagged.
BANNED_WORDS = {
    ("禁用词（模拟）", "block"): ["法轮功", "代开发票", "六合彩"],
    ("待审词（模拟）", "review"): ["腐败", "上访", "群体事件"],
}


def ensure_registry() -> None:
    """The departments of the registry (and their default time limits, from migration 0002)."""
    if not Department.objects.exists():
        load_registry()


class Staff:
    """Makes staff accounts, keeping the role groups between calls."""

    def __init__(self) -> None:
        self._groups: dict[str, Group] | None = None

    def user(
        self, username: str, role: str, department: Department | None = None, name: str = "", title: str = ""
    ) -> User:
        if self._groups is None:
            self._groups = ensure_role_groups()
        user, created = get_user_model().objects.get_or_create(
            username=username, defaults={"is_staff": True, "first_name": name}
        )
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        user.groups.add(self._groups[role])
        profile, _ = StaffProfile.objects.get_or_create(user=user)
        if (department is not None and profile.department_id != department.pk) or (
            title and profile.title != title
        ):
            profile.department = department or profile.department
            profile.title = title or profile.title
            profile.save()
        return user


def banned_words() -> None:
    from moderation.models import BannedWord, BannedWordList
    from moderation.screening import words_changed

    for (name, level), words in BANNED_WORDS.items():
        word_list, _ = BannedWordList.objects.get_or_create(name=name, defaults={"level": level})
        for word in words:
            BannedWord.objects.get_or_create(word_list=word_list, word=word)
    words_changed()
