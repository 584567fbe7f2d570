from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from archive import ops
from archive import views as archive_views
from core.security import ThrottledLoginView, throttled_admin_login
from departments import views as department_views
from letters import report_views
from letters import views as letter_views
from moderation import views as moderation_views
from settings.openapi import schema_view
from studio import views as studio_views

api = [  # PROTOCOL.md §2
    path("schema/", schema_view),  # the OpenAPI document of everything below
    path("departments/", department_views.department_list),
    path("departments/scoreboard/", letter_views.scoreboard),
    path("assessment/", letter_views.assessment),
    path("reports/", report_views.report_list),
    path("reports/<int:report_id>/", report_views.report_detail),
    path("search/", archive_views.search_view),
    path("stats/", archive_views.stats_view),
    path("netizen/", studio_views.netizen_identity),
    path("broadcasts/", studio_views.broadcast_list),
    path("broadcasts/<int:broadcast_id>/", studio_views.broadcast_detail),
    path("broadcasts/<int:broadcast_id>/events/", studio_views.broadcast_events),
    path("broadcasts/<int:broadcast_id>/questions/", studio_views.ask),
    path("broadcasts/<int:broadcast_id>/my-questions/", archive_views.my_questions),
    path("broadcasts/<int:broadcast_id>/supports/", moderation_views.supports),
    path("broadcasts/<int:broadcast_id>/transcript/", archive_views.transcript),
    path("contact-accesses/", letter_views.contact_accesses),
    path("letters/", letter_views.letters),
    path("letters/phone/", letter_views.phone_letter),
    path("letters/<str:code>/", letter_views.letter_detail),
    path(
        "letters/<str:code>/extensions/<int:extension_id>/<str:decision>/",
        letter_views.extension_decision,
    ),
    path("letters/<str:code>/<str:action>/", letter_views.letter_action),
]

urlpatterns = [
    path("healthz", ops.healthz),  # = readiness, kept for balancers configured before the split
    path("healthz/live", ops.live),
    path("healthz/ready", ops.ready),
    path("metrics", ops.metrics),
    path("", studio_views.home, name="home"),
    path("live/<int:broadcast_id>/", studio_views.live_page, name="live"),
    path("studio/<int:broadcast_id>/", studio_views.studio_page, name="studio"),
    path("moderate/<int:broadcast_id>/", moderation_views.console, name="moderate"),
    path("moderate/<int:broadcast_id>/audit.csv", moderation_views.audit_csv, name="moderation-audit"),
    path("replay/<int:broadcast_id>/", archive_views.replay, name="replay"),
    path("transcript/<int:broadcast_id>/", archive_views.transcript_page, name="transcript"),
    path("stats/", archive_views.stats_page, name="stats"),
    path("search/", archive_views.search_page, name="search"),
    path("letters/", include("letters.pages")),
    path("letters/", include("letters.report_views")),
    path("letters/", include("letters.access_views")),
    path("api/", include(api)),
    path("accounts/login/", ThrottledLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/login/", throttled_admin_login),  # before admin/: the same limits as accounts/login/
    path("admin/", admin.site.urls),
]

handler404 = "core.http.not_found"
handler500 = "core.http.server_error"
