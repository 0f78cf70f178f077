"""Background jobs (Huey), notifications, the audit trail and jobs pages (R1.5, R9.2)."""

from __future__ import annotations

import threading

import pytest
from huey.exceptions import TaskLockedException

from crm.core import audit
from crm.core.models import Event, JobRun, Notification
from crm.core.notifications import notify
from crm.core.tasks import heartbeat, run_job
from crm.core.testing.world import World


def test_heartbeat_records_its_last_run(db: None) -> None:
    # R9.2: the periodic heartbeat writes its last run, shown to admins on the jobs page
    heartbeat.call_local()
    heartbeat.call_local()
    job = JobRun.objects.get(name="heartbeat")
    assert (job.runs, job.last_status, job.last_message) == (2, "ok", "alive")
    assert job.last_finished_at >= job.last_started_at


def test_a_failing_job_is_recorded_as_failed(db: None) -> None:
    # R9.2
    def boom() -> None:
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        run_job("boom", boom)
    job = JobRun.objects.get(name="boom")
    assert (job.last_status, job.last_message) == ("failed", "disk full")


def test_the_same_job_never_runs_twice_at_once(db: None) -> None:
    # R9.2 J1: a second scheduler hitting the lock does not run the job body
    started, release, runs = threading.Event(), threading.Event(), []

    def slow() -> None:
        runs.append(1)
        started.set()
        release.wait(5)

    from huey.contrib.djhuey import HUEY

    with HUEY.lock_task("job:sweep"), pytest.raises(TaskLockedException):
        run_job("sweep", slow)
    assert runs == []
    run_job("sweep", lambda: None)
    assert JobRun.objects.get(name="sweep").runs == 1


def test_job_events_name_the_job_as_actor(world: World) -> None:
    # R1.5: changes made by a job are attributed to it
    def change() -> None:
        audit.record(actor=None, obj=world.depts["east"], verb="department.touched")

    run_job("nightly-touch", change)
    event = Event.objects.get(verb="department.touched")
    assert (event.actor_id, event.actor_label) == (None, "nightly-touch")
    assert event.request_id.startswith("job:nightly-touch:")


def test_events_are_append_only(world: World) -> None:
    # R1.5
    event = Event.objects.filter(org=world.org).first()
    event.verb = "tampered"
    with pytest.raises(RuntimeError):
        event.save()


def test_notifications_are_personal(world: World, other_world: World, client_for) -> None:
    # R9.1: only the recipient sees, opens and counts a notification
    note = notify(recipient=world.users["rep_east"], verb="test", message="请跟进华为项目", url="/")
    owner = client_for(world.users["rep_east"])
    assert "请跟进华为项目" in owner.get("/notifications/").content.decode()
    for intruder in (world.users["rep_east2"], world.admin, other_world.admin):
        client = client_for(intruder)
        assert "请跟进华为项目" not in client.get("/notifications/").content.decode()
        assert client.get(f"/notifications/{note.pk}/").status_code == 404
    assert owner.get(f"/notifications/{note.pk}/").status_code == 302
    assert Notification.objects.get(pk=note.pk).read_at is not None


def test_notification_links_only_redirect_on_site(world: World, client_for) -> None:
    # R1.1 (RELIABILITY B: open redirects)
    note = notify(recipient=world.admin, verb="test", message="x", url="https://evil.example/")
    response = client_for(world.admin).get(f"/notifications/{note.pk}/")
    assert response.status_code == 302 and response["Location"] == "/notifications/"


def test_audit_trail_page_filters_and_is_admin_only(
    world: World, other_world: World, client_for
) -> None:
    # R1.5: admins browse the organisation's trail with filters; others get 403
    admin = client_for(world.admin)
    page = admin.get("/settings/audit/", {"object_type": "org.department"}).content.decode()
    assert "department.created</code>" in page and "华东组" in page
    assert "user.created</code>" not in page
    assert "另一家公司" not in admin.get("/settings/audit/").content.decode()
    assert client_for(world.users["director"]).get("/settings/audit/").status_code == 403


def test_jobs_page_is_admin_only(world: World, client_for) -> None:
    # R9.2
    heartbeat.call_local()
    page = client_for(world.admin).get("/settings/jobs/")
    assert page.status_code == 200 and "heartbeat" in page.content.decode()
    assert client_for(world.users["manager1"]).get("/settings/jobs/").status_code == 403


def test_error_pages_are_styled(world: World, client_for) -> None:
    # R11.1: 404 and 403 render the site's own pages
    client = client_for(world.users["rep_east"])
    missing = client.get("/no-such-page/")
    assert missing.status_code == 404 and "empty-header" in missing.content.decode()
    denied = client.get("/settings/jobs/")
    assert denied.status_code == 403 and "empty-header" in denied.content.decode()


def test_anonymous_pages_redirect_to_login(db: None, client) -> None:
    # R1.1
    for url in ("/", "/notifications/", "/settings/audit/", "/settings/jobs/", "/search/?q=x"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")
