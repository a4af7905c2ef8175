"""Browser login: password then TOTP, lockout, enrolment, recovery codes, CSRF, rate limit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, update

from caseops.auth import passwords, service
from caseops.auth.models import UserSession
from caseops.db_types import utcnow
from caseops.extensions import db
from caseops.users.models import RecoveryCode, User
from tests import factories
from tests.factories import csrf_token

GENERIC = "Invalid username, password or code."


@pytest.fixture
def person(app):
    factories.make_agency("hha")
    return factories.make_user("hha.worker", "hha", ["case_worker"])


def post_password(client, username, password):
    page = client.get("/login")
    return client.post(
        "/login",
        data={
            "username": username,
            "password": password,
            "csrf_token": csrf_token(page.get_data(as_text=True)),
        },
    )


def post_code(client, code, path="/login/second-factor"):
    page = client.get(path)
    return client.post(
        path, data={"code": code, "csrf_token": csrf_token(page.get_data(as_text=True))}
    )


def user(username="hha.worker") -> User:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.username == username))


def test_password_then_totp_logs_in_and_is_audited(client, person):
    response = factories.login(client, person)
    assert response.status_code == 302
    assert "hha.worker" in client.get("/").get_data(as_text=True)
    [event] = [e for e in factories.events("auth.login") if e.outcome == "success"]
    assert event.actor == "hha.worker" and event.detail == {"method": "totp"}


def test_password_alone_does_not_log_in(client, person):
    assert post_password(client, "hha.worker", person.password).status_code == 302
    assert client.get("/").status_code == 302
    assert client.get("/api/v1/users/hha.worker").status_code == 401


@pytest.mark.parametrize(
    ("username", "password", "code_ok"),
    [
        ("nobody", "correct-horse-battery-staple", True),
        ("hha.worker", "wrong-password-entirely", True),
        ("hha.worker", None, False),
    ],
    ids=["unknown-user", "wrong-password", "wrong-code"],
)
def test_every_failure_gives_the_same_message(client, person, username, password, code_ok):
    response = post_password(client, username, password or person.password)
    if response.status_code == 302:
        response = post_code(client, "000000" if person.code() != "000000" else "111111")
    assert response.status_code == 401
    assert GENERIC in response.get_data(as_text=True)
    failures = [e for e in factories.events("auth.login") if e.outcome == "failure"]
    assert len(failures) == 1


def test_lockout_after_five_failures_with_growing_delay(client, person):
    for _ in range(5):
        post_password(client, "hha.worker", "not-the-password-1")
    locked = user()
    assert locked.failed_logins == 5
    first_delay = locked.locked_until - utcnow()
    assert timedelta(seconds=25) < first_delay <= timedelta(seconds=30)
    # Even the right password is refused, with the same message, while locked.
    response = post_password(client, "hha.worker", person.password)
    assert response.status_code == 401 and GENERIC in response.get_data(as_text=True)
    # Once the lock has passed, another failure locks for twice as long.
    db.session.execute(update(User).values(locked_until=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    post_password(client, "hha.worker", "not-the-password-2")
    second_delay = user().locked_until - utcnow()
    assert timedelta(seconds=55) < second_delay <= timedelta(seconds=60)
    assert len(factories.events("auth.lockout")) == 2
    locked_events = [
        e for e in factories.events("auth.login") if e.detail.get("reason") == "locked"
    ]
    assert len(locked_events) == 1


def test_lockout_delay_is_capped():
    assert service.lockout_delay(4) is None
    assert service.lockout_delay(5) == timedelta(seconds=30)
    assert service.lockout_delay(6) == timedelta(seconds=60)
    assert service.lockout_delay(50) == timedelta(hours=1)


def test_a_successful_login_resets_the_failure_count(client, person):
    for _ in range(3):
        post_password(client, "hha.worker", "not-the-password")
    assert user().failed_logins == 3
    factories.login(client, person)
    assert user().failed_logins == 0


def test_lock_ends_when_its_time_has_passed(client, person):
    for _ in range(5):
        post_password(client, "hha.worker", "not-the-password")
    db.session.execute(update(User).values(locked_until=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert factories.login(client, person).status_code == 302
    assert user().locked_until is None


def test_a_replayed_totp_code_is_refused(client, person, app):
    code = person.code()
    assert factories.login(client, person, code=code).status_code == 302
    other = app.test_client()
    response = factories.login(other, person, code=code)
    assert response.status_code == 401


def test_codes_from_adjacent_steps_are_accepted_but_not_further(client, person):
    assert factories.login(client, person, code=person.code(steps_ahead=3)).status_code == 401
    assert factories.login(client, person, code=person.code(steps_ahead=1)).status_code == 302


def test_first_login_forces_enrolment_then_issues_single_use_recovery_codes(client, app):
    import pyotp

    factories.make_agency("hha")
    newbie = factories.make_user("newbie", "hha", ["case_worker"], enrolled=False)
    response = post_password(client, "newbie", newbie.password)
    assert response.headers["Location"] == "/login/enrol"
    assert client.get("/").status_code == 302  # nothing before enrolment is proven
    page = client.get("/login/enrol").get_data(as_text=True)
    assert "data:image/svg+xml" in page
    secret = page.split('data-testid="totp-secret">')[1].split("<")[0]
    stored = user("newbie").totp_secret_encrypted
    assert secret not in stored  # encrypted at rest
    assert (
        post_code(
            client, "123456" if pyotp.TOTP(secret).now() != "123456" else "654321", "/login/enrol"
        ).status_code
        == 401
    )
    response = post_code(client, pyotp.TOTP(secret).now(), "/login/enrol")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    codes = [c.split("</code>")[0] for c in page.split("<li><code>")[1:]]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert "newbie" in client.get("/").get_data(as_text=True)
    assert all(
        code not in r.code_hash for r in db.session.scalars(select(RecoveryCode)) for code in codes
    )

    newbie.totp_secret = secret
    # A recovery code signs in once, and only once.
    second = app.test_client()
    assert post_password(second, "newbie", newbie.password).status_code == 302
    assert post_code(second, codes[0]).status_code == 302
    third = app.test_client()
    assert post_password(third, "newbie", newbie.password).status_code == 302
    assert post_code(third, codes[0]).status_code == 401
    assert post_code(third, codes[1]).status_code == 302
    methods = [
        e.detail.get("method") for e in factories.events("auth.login") if e.outcome == "success"
    ]
    assert methods == ["totp_enrolment", "recovery_code", "recovery_code"]
    assert len(factories.events("auth.second_factor_enrolled")) == 1


def test_login_gives_a_fresh_session_and_logout_ends_it(client, person, app):
    post_password(client, "hha.worker", person.password)
    before = client.get_cookie("caseops_session").value
    factories.login(client, person)
    after = client.get_cookie("caseops_session").value
    assert before != after
    [row] = db.session.scalars(select(UserSession)).all()

    # Replay the logged-in cookie from another client after logout: it must not work.
    page = client.get("/").get_data(as_text=True)
    response = client.post("/logout", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(UserSession, row.id).end_reason == "logout"
    thief = app.test_client()
    thief.set_cookie("caseops_session", after, domain="localhost", secure=True)
    assert thief.get("/").status_code == 302
    assert len(factories.events("auth.logout")) == 1


def test_a_stray_remember_me_cookie_does_not_sign_the_browser_out(client, person):
    """A cookie named ``remember_token`` (another Flask-Login app's, on a shared domain)
    used to replace caseops' own session and send the worker back to the login page."""
    factories.login(client, person)
    client.set_cookie("remember_token", "1|not-caseops")
    page = client.get("/")
    assert page.status_code == 200 and "hha.worker" in page.get_data(as_text=True)


def test_pages_after_sign_in_leave_the_session_cookie_alone(client, person, app):
    """The cookie holds caseops' session id and the CSRF token its forms need, nothing of
    Flask-Login's (it used to gain ``_fresh: false``), and once set is not re-sent."""
    factories.login(client, person)
    assert client.get("/").status_code == 200  # the first page's forms add the CSRF token
    again = client.get("/")
    assert again.status_code == 200 and "Set-Cookie" not in again.headers
    assert "Cookie" in again.vary  # a signed-in page depends on the cookie: no shared cache
    stored = app.session_interface.get_signing_serializer(app).loads(
        client.get_cookie("caseops_session").value
    )
    assert set(stored) == {"sid", "csrf_token"}


def test_session_cookie_flags(client, person):
    post_password(client, "hha.worker", person.password)
    cookie = client.get_cookie("caseops_session")
    assert cookie.secure and cookie.http_only and cookie.same_site == "Lax"


def test_the_cookie_session_is_flasks_and_costs_nothing_without_a_cookie(
    client, person, app, monkeypatch
):
    """caseops opens the signed cookie session as Flask does (a signed-in cookie works, a
    tampered one is an empty session: signed out), and builds no signer for a request
    that carries no session cookie (every bearer API request, issue 20)."""
    from caseops.security import CookieSessions

    assert isinstance(app.session_interface, CookieSessions)
    factories.login(client, person)
    cookie = client.get_cookie("caseops_session").value
    assert client.get("/").status_code == 200
    forged = app.test_client()
    forged.set_cookie("caseops_session", cookie[:-2] + "xx", domain="localhost", secure=True)
    assert forged.get("/").status_code == 302  # to the sign-in page
    built = []
    real = CookieSessions.get_signing_serializer

    def counted(self, flask_app):
        built.append(1)
        return real(self, flask_app)

    monkeypatch.setattr(CookieSessions, "get_signing_serializer", counted)
    assert app.test_client().get("/healthz").status_code == 200
    assert built == []
    assert client.get("/").status_code == 200 and built  # the cookie is verified


def expire(field: str, age: timedelta) -> None:
    db.session.execute(update(UserSession).values({field: utcnow() - age}))
    db.session.commit()


def test_idle_timeout_ends_the_session(client, person, app):
    factories.login(client, person)
    expire("last_seen_at", timedelta(seconds=app.config["CASEOPS_IDLE_TIMEOUT"] - 60))
    assert client.get("/").status_code == 200  # still within the idle window
    expire("last_seen_at", timedelta(seconds=app.config["CASEOPS_IDLE_TIMEOUT"] + 1))
    assert client.get("/").status_code == 302
    db.session.expire_all()
    assert db.session.scalar(select(UserSession.end_reason)) == "idle_timeout"


def test_absolute_timeout_ends_even_an_active_session(client, person, app):
    factories.login(client, person)
    expire("created_at", timedelta(seconds=app.config["CASEOPS_ABSOLUTE_TIMEOUT"] + 1))
    assert client.get("/").status_code == 302
    db.session.expire_all()
    assert db.session.scalar(select(UserSession.end_reason)) == "absolute_timeout"


def test_forms_without_csrf_token_are_rejected(client, person):
    response = client.post("/login", data={"username": "hha.worker", "password": person.password})
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    factories.login(client, person)
    response = client.post("/logout", data={})
    assert response.status_code == 400
    assert client.get("/").status_code == 200  # still logged in


def test_session_authenticated_api_writes_need_csrf(client, world):
    factories.login(client, world["hha.agency_admin"])
    response = client.post("/api/v1/users/hha.case_worker/unlock")
    assert response.status_code == 400
    token = csrf_token(client.get("/").get_data(as_text=True))
    response = client.post("/api/v1/users/hha.case_worker/unlock", headers={"X-CSRFToken": token})
    assert response.status_code == 200


def test_login_posts_are_rate_limited_per_address(app, person):
    app.config["CASEOPS_LOGIN_RATE_LIMIT"] = "3 per minute"
    client = app.test_client()
    statuses = [post_password(client, "hha.worker", "nope-nope-nope").status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]


def test_open_redirects_are_refused(client, person):
    page = client.get("/login?next=//evil.example/x")
    client.post(
        "/login?next=//evil.example/x",
        data={
            "username": "hha.worker",
            "password": person.password,
            "csrf_token": csrf_token(page.get_data(as_text=True)),
        },
    )
    response = post_code(client, person.code())
    assert response.headers["Location"] == "/"


def test_next_path_is_honoured_after_login(client, person):
    page = client.get("/login?next=/admin/users")
    client.post(
        "/login?next=/admin/users",
        data={
            "username": "hha.worker",
            "password": person.password,
            "csrf_token": csrf_token(page.get_data(as_text=True)),
        },
    )
    assert post_code(client, person.code()).headers["Location"] == "/admin/users"


def test_password_hash_is_argon2id_and_upgraded_when_parameters_change(client, person):
    from argon2 import PasswordHasher, profiles

    assert user().password_hash.startswith("$argon2id$")
    old = PasswordHasher.from_parameters(profiles.PRE_21_2).hash(person.password)
    db.session.execute(update(User).values(password_hash=old))
    db.session.commit()
    assert passwords.needs_rehash(old)
    factories.login(client, person)
    assert user().password_hash != old
    assert not passwords.needs_rehash(user().password_hash)


def test_deactivated_users_cannot_log_in_and_lose_their_sessions(client, world, app):
    worker = world["hha.case_worker"]
    factories.login(client, worker)
    admin = app.test_client()
    token = factories.token_for("hha.agency_admin")
    assert (
        admin.post(
            "/api/v1/users/hha.case_worker/deactivate", headers={"Authorization": f"Bearer {token}"}
        ).status_code
        == 200
    )
    assert client.get("/").status_code == 302
    other = app.test_client()
    assert post_password(other, "hha.case_worker", worker.password).status_code == 401


# One lockout for staff sign-ins and client access codes (caseops/portal uses this one).
@given(st.integers(min_value=0, max_value=10_000))
def test_lockout_starts_at_the_threshold_grows_and_is_capped(failures):
    delay = service.lockout_delay(failures)
    if failures < service.LOCKOUT_THRESHOLD:
        assert delay is None
    else:
        assert service.LOCKOUT_BASE <= delay <= service.LOCKOUT_MAX
        assert service.lockout_delay(failures + 1) >= delay
