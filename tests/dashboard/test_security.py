"""Who may read the dashboard: the Host allow-list, logins, sessions, the throttle, ``track ui`` checks."""

from __future__ import annotations

import http.client
import json
import shutil
import ssl
import subprocess
import time
import urllib.request
import warnings
from pathlib import Path

import pytest

from optional import require

require("starlette")
with warnings.catch_warnings():  # starlette 1.x nudges towards httpx2; httpx is what dev installs
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from test_api import LOCAL, fill  # noqa: E402
from uiprocess import PASSWORD, USER, running_ui  # noqa: E402

from track.dashboard.app import COOKIE, create_app  # noqa: E402
from track.dashboard.auth import LoginThrottle, allowed_hosts, check_exposure, is_loopback  # noqa: E402
from track.persistence import get_protocol  # noqa: E402
from track.server.auth import hash_password  # noqa: E402

JSON = {"content-type": "application/json"}


class CountingUsers(dict):
    """The users table, counting how often a login looked a user up (i.e. ran scrypt)."""

    lookups = 0

    def get(self, key: object, default: object = None) -> object:
        """Count, then look up."""
        self.lookups += 1
        return super().get(key, default)


@pytest.fixture(scope="module")
def users() -> dict[str, str]:
    """One user, :data:`USER`, with a real scrypt hash."""
    return {USER: hash_password(PASSWORD)}


def dashboard(users: dict[str, str] | None = None, base_url: str = LOCAL, **options) -> TestClient:
    """A test client of a dashboard over a filled ephemeral store."""
    protocol = get_protocol("ephemeral:")
    fill(protocol)
    return TestClient(create_app(protocol, users=users, **options), base_url=base_url)


def log_in(http: TestClient, password: str = PASSWORD) -> object:
    """POST the login form's JSON."""
    return http.post("/api/login", json={"username": USER, "password": password})


# ---- Host allow-list (DNS rebinding) -------------------------------------------------------


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8080", "127.0.0.1.evil.example"])
def test_a_foreign_host_name_is_refused(host: str) -> None:
    """A request naming another Host (a rebound DNS name) gets 400 and no store data."""
    with dashboard() as http:
        for path in ("/api/projects", "/api/info", "/"):
            response = http.get(path, headers={"host": host})
            assert response.status_code == 400 and "project" not in response.text


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost:8080", "[::1]:8080", "LOCALHOST"])
def test_loopback_host_names_are_served(host: str) -> None:
    """The names a local browser uses (any port, any case) are answered."""
    with dashboard() as http:
        response = http.get("/api/projects", headers={"host": host})
        assert response.status_code == 200 and response.json()[0]["name"] == "p"


def test_allowed_hosts_add_the_bound_host_and_extra_names() -> None:
    """Defaults are loopback names plus the bound host (not a wildcard); extra names are added."""
    assert allowed_hosts("127.0.0.1") == ["localhost", "127.0.0.1", "::1", "[::1]"]
    assert "0.0.0.0" not in allowed_hosts("0.0.0.0")
    assert allowed_hosts("10.1.2.3", ["Dash.Lab.example", "fe80::1"])[-4:] == [
        "10.1.2.3",
        "dash.lab.example",
        "fe80::1",
        "[fe80::1]",
    ]
    with dashboard(hosts=allowed_hosts("127.0.0.1", ["dash.lab.example"])) as http:
        assert http.get("/api/info", headers={"host": "dash.lab.example:80"}).status_code == 200
        assert http.get("/api/info", headers={"host": "evil.example"}).status_code == 400


def test_track_ui_refuses_foreign_hosts_and_allows_allow_host(example_store: str) -> None:
    """The real ``track ui``: evil.example is refused, ``--allow-host`` names and loopback served."""
    with running_ui(example_store, "--allow-host", "dash.lab.example") as url:
        port = int(url.rsplit(":", 1)[1])
        for host, status in [
            ("evil.example", 400),
            (f"evil.example:{port}", 400),
            (f"dash.lab.example:{port}", 200),
            (f"localhost:{port}", 200),
        ]:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("GET", "/api/projects", headers={"Host": host})
            response = connection.getresponse()
            body = response.read().decode()
            connection.close()
            assert response.status == status, (host, body)
            assert ("demo" in body) == (status == 200)


# ---- login, sessions, logout -----------------------------------------------------------------


def test_without_a_session_the_api_answers_401_but_the_page_loads(users: dict[str, str]) -> None:
    """With users, every /api/* needs a session; the page and scripts (no store data) do not."""
    with dashboard(users) as http:
        for path in ("/api/info", "/api/projects", "/api/trials", "/api/projects/p/groups"):
            response = http.get(path)
            assert response.status_code == 401, path
            assert response.json() == {"error": "log in to see this store", "login": True}
        assert http.get("/").status_code == 200
        assert http.get("/static/app.js").status_code == 200
        http.cookies.set(COOKIE, "forged-token")
        forged = http.get("/api/projects")
        assert forged.status_code == 401


def test_login_sets_a_strict_httponly_cookie_and_opens_the_api(users: dict[str, str]) -> None:
    """A right password gives an HttpOnly, SameSite=Strict cookie (not Secure over plain HTTP)."""
    with dashboard(users) as http:
        response = log_in(http)
        assert response.status_code == 200 and response.json() == {"user": USER}
        cookie = response.headers["set-cookie"]
        flags = {part.strip().split("=")[0].lower(): part for part in cookie.split(";")}
        assert cookie.startswith(COOKIE + "=") and len(http.cookies[COOKIE]) >= 40
        assert "httponly" in flags and flags["samesite"].lower().endswith("strict")
        assert flags["path"].strip() == "Path=/" and "secure" not in flags
        assert http.get("/api/projects").json()[0]["name"] == "p"
        info = http.get("/api/info").json()
        assert info["user"] == USER and info["login"] is True and info["no_auth"] is False


def test_the_cookie_is_secure_under_https(users: dict[str, str]) -> None:
    """Served over HTTPS, the session cookie carries ``Secure``."""
    with dashboard(users, base_url="https://127.0.0.1") as http:
        response = log_in(http)
        assert response.status_code == 200
        assert "secure" in [p.strip().lower() for p in response.headers["set-cookie"].split(";")]


def test_a_wrong_password_or_unknown_user_is_refused_without_a_cookie(
    users: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """Wrong passwords and unknown users get the same 401, no cookie, and a log line."""
    with dashboard(users, throttle=LoginThrottle(base=0.0, cap=0.0)) as http:
        wrong = log_in(http, "wrong")
        unknown = http.post("/api/login", json={"username": "mallory", "password": PASSWORD})
        for response in (wrong, unknown):
            assert response.status_code == 401
            assert response.json() == {"error": "wrong user name or password"}
            assert "set-cookie" not in response.headers
        assert http.get("/api/projects").status_code == 401
    assert "failed login for 'alice'" in caplog.text and "'mallory'" in caplog.text


def test_logout_ends_the_session_on_the_server(users: dict[str, str]) -> None:
    """After logout the cookie is cleared, and replaying the old token is refused."""
    with dashboard(users) as http:
        log_in(http)
        token = http.cookies[COOKIE]
        response = http.post("/api/logout")
        assert response.status_code == 200 and 'track_session=""' in response.headers["set-cookie"]
        assert http.get("/api/projects").status_code == 401
        http.cookies.set(COOKIE, token)
        replayed = http.get("/api/projects")
        assert replayed.status_code == 401


def test_an_expired_session_is_refused_with_its_reason(users: dict[str, str]) -> None:
    """Once the lifetime has passed, the session's cookie is refused ("expired"); a new login works."""
    with dashboard(users, session_lifetime=1.0) as http:
        log_in(http)
        time.sleep(1.2)
        expired = http.get("/api/projects")
        assert expired.status_code == 401
        assert expired.json()["error"] == "your session expired: log in again"
        assert log_in(http).status_code == 200


@pytest.mark.parametrize(
    ("body", "headers", "status", "message"),
    [
        (
            b"username=alice&password=x",
            {"content-type": "application/x-www-form-urlencoded"},
            415,
            "application/json",
        ),
        (b"{not json", JSON, 400, "must be JSON"),
        (b"[1, 2]", JSON, 400, "must be JSON"),
        (json.dumps({"username": ["alice"], "password": 1}).encode(), JSON, 400, "strings"),
        (b"{" + b" " * 5000 + b"}", JSON, 413, "exceeds 4096 bytes"),
        (b"{}", {**JSON, "origin": "https://evil.example"}, 403, "cross-site"),
    ],
)
def test_malformed_or_cross_site_logins_are_refused(
    users: dict[str, str], body: bytes, headers: dict[str, str], status: int, message: str
) -> None:
    """Form posts (CSRF), bad JSON, non-string fields, huge bodies and foreign origins: refused."""
    with dashboard(users, throttle=LoginThrottle(base=0.0, cap=0.0)) as http:
        response = http.post("/api/login", content=body, headers=headers)
        assert response.status_code == status and message in response.json()["error"]
        assert "set-cookie" not in response.headers


def test_login_without_users_is_404() -> None:
    """A dashboard without users has no login to offer."""
    with dashboard() as http:
        assert log_in(http).status_code == 404


# ---- the login throttle ----------------------------------------------------------------------


def test_an_address_in_its_penalty_is_refused_before_scrypt_runs() -> None:
    """After a failure the next login, even with the right password, gets 429 without scrypt."""
    users = CountingUsers({USER: hash_password(PASSWORD)})
    with dashboard(users, throttle=LoginThrottle(base=0.5, cap=5.0)) as http:
        assert log_in(http, "wrong").status_code == 401
        looked_up = users.lookups
        refused = log_in(http)
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert "too many failed logins" in refused.json()["error"]
        assert users.lookups == looked_up, "scrypt ran for a throttled address"
        time.sleep(refused.json()["retry_after"] + 0.05)
        assert log_in(http).status_code == 200


def test_the_throttle_doubles_caps_and_allows_one_login_per_address_at_a_time() -> None:
    """Penalties double up to the cap; a login in progress blocks a second one from its address."""
    throttle = LoginThrottle(base=10.0, cap=40.0)
    assert throttle.wait("a") == 0
    throttle.begin("a")
    assert throttle.wait("a") > 0 and throttle.wait("b") == 0
    penalties = []
    for _ in range(4):
        throttle.end("a", ok=False)
        penalties.append(round(throttle.wait("a")))
        throttle.begin("a")
    assert penalties == [10, 20, 40, 40]
    throttle.end("a", ok=True)
    assert throttle.wait("a") == 0


def test_the_throttle_stays_at_its_cap_after_more_than_a_thousand_failures() -> None:
    """2**1024 overflows a float: the penalty stays at the cap however long the streak."""
    throttle = LoginThrottle(base=0.25, cap=5.0)
    for _ in range(1100):
        throttle.begin("a")
        throttle.end("a", ok=False)
    assert round(throttle.wait("a")) == 5


# ---- track ui: who may connect ---------------------------------------------------------------


def test_loopback_rule() -> None:
    """Only localhost, 127.0.0.0/8 and ::1 count as loopback; wildcards and names do not."""
    assert all(map(is_loopback, ["localhost", "127.0.0.1", "127.0.0.2", "::1", "[::1]"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "", "10.0.0.1", "example.org"]))
    check_exposure("127.0.0.1", has_users=False, no_auth=False)
    check_exposure("0.0.0.0", has_users=True, no_auth=False)
    check_exposure("0.0.0.0", has_users=False, no_auth=True)
    with pytest.raises(
        ValueError, match=r"refusing to serve the store on 0\.0\.0\.0 without a login"
    ):
        check_exposure("0.0.0.0", has_users=False, no_auth=False)
    with pytest.raises(ValueError, match="contradicts"):
        check_exposure("0.0.0.0", has_users=True, no_auth=True)


def get_json(url: str) -> object:
    """GET ``url`` and decode its JSON."""
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def run_track_ui(*args: str) -> subprocess.CompletedProcess:
    """``track ui`` with ``args``, expected to exit on its own (a refusal)."""
    command = [shutil.which("track") or "track", "ui", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_track_ui_refuses_a_non_loopback_address_without_users(
    example_store: str, users_file: Path, tmp_path: Path
) -> None:
    """``--host 0.0.0.0`` without users exits 2 before binding; so do contradictory options."""
    empty = tmp_path / "empty.toml"
    empty.write_text("[users]\n")
    cases = [
        (["--host", "0.0.0.0"], "refusing to serve the store on 0.0.0.0 without a login"),
        (["--host", "0.0.0.0", "--users", str(users_file), "--no-auth"], "contradicts"),
        (["--host", "0.0.0.0", "--users", str(empty)], "users"),
        (["--tls-cert", str(users_file)], "both --tls-cert and --tls-key"),
        (["--session-lifetime", "soon"], "not a duration"),
    ]
    for extra, message in cases:
        done = run_track_ui("--store", example_store, "--port", "1", *extra)
        assert done.returncode == 2 and message in done.stderr, (extra, done.stderr)


def test_no_auth_puts_a_banner_on_every_page(example_store: str) -> None:
    """``--no-auth`` serves without a login and the page carries a visible warning banner."""
    with running_ui(example_store, "--no-auth") as url:
        with urllib.request.urlopen(url + "/", timeout=10) as response:
            page = response.read().decode()
        info = get_json(url + "/api/info")
    assert 'id="no-auth-banner"' in page and "anyone who can reach" in page
    assert info["no_auth"] is True and info["login"] is False


def test_track_ui_over_tls_with_users(example_store: str, users_file: Path, tmp_path: Path) -> None:
    """HTTPS: 401 before the login, then a Secure cookie opens the API; SIGTERM still exits."""
    from server.trackserver import make_tls

    cert, key = make_tls(tmp_path)
    context = ssl.create_default_context(cafile=str(cert))
    args = ("--users", str(users_file), "--tls-cert", str(cert), "--tls-key", str(key))
    with running_ui(example_store, *args, scheme="https", context=context) as url:
        # the refused response stays open: a silent TLS peer must not keep track ui from exiting
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url + "/api/projects", timeout=10, context=context)
        assert refused.value.code == 401
        body = json.dumps({"username": USER, "password": PASSWORD}).encode()
        request = urllib.request.Request(url + "/api/login", data=body, headers=JSON)
        with urllib.request.urlopen(request, timeout=30, context=context) as response:
            cookie = response.headers["set-cookie"]
        flags = [part.strip().lower() for part in cookie.split(";")]
        assert "secure" in flags and "httponly" in flags and "samesite=strict" in flags
        request = urllib.request.Request(
            url + "/api/projects", headers={"cookie": cookie.split(";")[0]}
        )
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            assert json.load(response)[0]["name"] == "demo"


def test_track_ui_never_shows_the_store_password(fresh_postgres) -> None:
    """The printed line, /api/info and the page title hide a (percent-encoded) URI password."""
    with fresh_postgres() as uri:
        get_protocol(uri).close()  # create the store's tables
        scheme, rest = uri.split("://", 1)
        secret = "s3cr%40t-hunter2"
        with_password = f"{scheme}://postgres:{secret}@{rest.split('@', 1)[1]}"
        output: list[str] = []
        with running_ui(with_password, output=output) as url:
            title = get_json(url + "/api/info")["title"]
    printed = output[0]
    assert "serving postgresql://postgres:***@" in printed
    assert "postgres:***@" in title
    for text in (printed, title):
        assert "hunter2" not in text and "s3cr" not in text


@pytest.mark.parametrize("path", ["/", "/api/info", "/static/plotly.min.js", "/no-such-page"])
def test_every_response_forbids_framing_by_other_sites(path: str) -> None:
    """Clickjacking: another site's page must not frame the dashboard, whatever it loads."""
    response = dashboard().get(path)
    assert response.headers["content-security-policy"] == "frame-ancestors 'none'"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_a_refused_host_is_answered_with_the_same_headers() -> None:
    """The Host check answers before the routes; its answer must not be frameable either."""
    response = dashboard().get("/", headers={"host": "evil.example"})
    assert response.status_code == 400
    assert response.headers["x-frame-options"] == "DENY"
