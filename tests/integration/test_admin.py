"""gatehouse-admin, the admin web pages, against a real gatehoused.

Each test starts gatehoused (log on, a "visitor" segment with
guest-access: grant-required on NET 127.62.200.0/24, a "staff" segment on
127.62.201.0/24, block page 192.0.2.99 for ungranted guests) and
gatehouse-admin on a random 127.62.202.x address with a certificate made by
tools/admin/gatehouse-admin-cert, and accounts made with `gatehousectl users
add --password-stdin`.  The name asked is www.good.test of the default
world (192.0.2.1).

test_api_* speak to the API with curl (every endpoint, unauthenticated
access, roles, CSRF, bad input, the audit); test_browser drives the pages
in headless Chromium (tests/browser/admin.mjs, playwright-core) and keeps
its screenshots in the test's tmpdir (GATEHOUSE_KEEP_SCREENSHOTS=1 refreshes
the committed copies in tests/browser/screenshots/).
"""

import json
import os
import random
import shutil
import socket
import subprocess
import time

import daemon as daemonlib

ROOT_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WWW = os.path.join(ROOT_DIR, "tools", "admin", "www")
CERT_SCRIPT = os.path.join(ROOT_DIR, "tools", "admin", "gatehouse-admin-cert")
BROWSER_DIR = os.path.join(ROOT_DIR, "tests", "browser")
VISITOR = "127.62.200.10"
STAFF = "127.62.201.10"
NAME = "www.good.test"
REAL = "192.0.2.1"
BLOCK = "192.0.2.99"
USERS = {"head": ("mrs.head", "head-teacher-pass-1"), "dsl": ("mr.dsl", "safeguarding-pass-2"),
         "technician": ("tech", "technician-pass-3")}


def bin_path(ctx, name):
    return os.path.join(os.path.dirname(os.path.abspath(ctx.binary)), name)


def free_port(addr, udp_too=False):
    """A port free on addr for TCP (and UDP), 127.62/16 only.  Bounded: 50 tries."""
    for _ in range(50):
        port = random.randint(20000, 60000)
        socks = [socket.socket()] + ([socket.socket(type=socket.SOCK_DGRAM)] if udp_too else [])
        try:
            for s in socks:
                s.bind((addr, port))
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise AssertionError("no free port on %s" % addr)


class Admin:
    """gatehouse-admin for a started gatehoused d."""

    def __init__(self, ctx, d):
        self.ctx, self.d = ctx, d
        self.addr = "127.62.202.%d" % random.randint(2, 250)
        self.port = free_port(self.addr)
        self.url = "https://%s:%d" % (self.addr, self.port)
        self.dir = os.path.join(d.dir, "admin")
        os.makedirs(self.dir, exist_ok=True)
        self.proc = None
        self.log = os.path.join(self.dir, "admin.log")

    def start(self):
        subprocess.run([CERT_SCRIPT, os.path.join(self.dir, "c.pem"),
                        os.path.join(self.dir, "k.pem")], check=True, capture_output=True,
                       timeout=30)
        binary = bin_path(self.ctx, "gatehouse-admin")
        if not os.path.exists(binary):
            raise AssertionError("%s is missing (make)" % binary)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([binary, "-c", self.d.conf, "-w", WWW],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         start_new_session=True,
                                         env=self.d.env())
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if "ready" in self.text():
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError("gatehouse-admin did not start:\n" + self.text())

    def text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            daemonlib.stop_group(self.proc, 5)

    def curl(self, path, method="GET", body=None, jar=None, headers=(), raw=False,
             ctype="application/json"):
        """(status, parsed JSON or text) of one request."""
        args = ["curl", "-sk", "--max-time", "10", "-o", "-", "-w", "\n%{http_code}",
                "-X", method, "--path-as-is"]
        if jar:
            args += ["-b", jar, "-c", jar]
        for h in headers:
            args += ["-H", h]
        if body is not None:
            args += ["-H", "Content-Type: " + ctype,
                     "--data-binary", body if isinstance(body, str) else json.dumps(body)]
        out = subprocess.run(args + [self.url + path], capture_output=True, text=True, timeout=20)
        text, _, code = out.stdout.rpartition("\n")
        status = int(code) if code.isdigit() else 0
        if raw:
            return status, text
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def login(self, role, jar):
        name, pw = USERS[role]
        st, r = self.curl("/api/login", "POST", {"name": name, "password": pw}, jar=jar)
        assert st == 200, "log-in of %s: %s %s" % (name, st, r)
        return r["csrf"]


def world_daemon(ctx):
    ctx.require_gatehouse("tests gatehouse-admin")
    if not shutil.which("curl"):
        ctx.skip("curl is missing")
    cfg = {
        "log": {"enabled": True},
        "grants": {"block-address": BLOCK},
        "policies": {"open": {"safe-search": "off"}},
        "blocklists": {"categories": {
            "adult": [os.path.join(ROOT_DIR, "tests", "data", "policy", "adult.txt")]}},
        "segments": [
            {"name": "visitor", "networks": ["127.62.200.0/24"], "policy": "open",
             "guest-access": "grant-required"},
            {"name": "staff", "networks": ["127.62.201.0/24"], "policy": "open"},
        ],
    }
    addr = "127.62.203.%d" % random.randint(2, 250)
    d = ctx.daemon(config=cfg, world=ctx.world, start=False, addr=addr, port=free_port(addr, True))
    d.config = daemonlib.merge(d.config, {"admin": {
        "listen": [], "certificate": os.path.join(d.dir, "admin", "c.pem"),
        "key": os.path.join(d.dir, "admin", "k.pem")}})
    adm = Admin(ctx, d)
    d.config["admin"]["listen"] = ["%s@%d" % (adm.addr, adm.port)]
    d.write_config()
    d.start()
    for role, (name, pw) in USERS.items():
        p = subprocess.run([bin_path(ctx, "gatehousectl"), "-c", d.conf, "users", "add", name,
                            "--role", role, "--password-stdin"], input=pw + "\n",
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, "users add %s: %s" % (name, p.stdout + p.stderr)
    adm.start()
    ctx.daemons.append(adm)  # stopped (close) and its log shown with the others
    adm.close = adm.stop
    adm.sanitizer_report = lambda: None
    adm.log_tail = lambda n=30: "\n".join(adm.text().splitlines()[-n:])
    adm.logfile = adm.log
    return d, adm


def visitor_query(d, src=VISITOR):
    return d.dig(NAME, source=src)


def wait_visitor(adm, jar):
    """The visitor shows up once the query log has committed (<= 250 ms)."""
    deadline = time.monotonic() + 10
    r = None
    while time.monotonic() < deadline:
        st, r = adm.curl("/api/visitors", jar=jar)
        assert st == 200, r
        if any(v["address"] == VISITOR for v in r["devices"]):
            return r
        time.sleep(0.2)
    raise AssertionError("visitor %s never listed: %s" % (VISITOR, r))


def audit_actions(adm, jar):
    st, r = adm.curl("/api/audit", jar=jar)
    assert st == 200, r
    return [(a["who"], a["action"], a["detail"]) for a in r["audit"]]


def test_api_unauthenticated_and_static(ctx):
    d, adm = world_daemon(ctx)
    for path in ("/api/me", "/api/visitors", "/api/grants", "/api/options", "/api/reports",
                 "/api/report?date=2026-01-01", "/api/search", "/api/status", "/api/audit"):
        st, r = adm.curl(path)
        assert st == 401 and r == {"error": "please log in"}, "%s: %s %s" % (path, st, r)
    for path, body in (("/api/grants", {"kind": "guest"}), ("/api/grants/1/revoke", {}),
                       ("/api/logout", {})):
        st, r = adm.curl(path, "POST", body)
        assert st == 401, "%s: %s %s" % (path, st, r)
    st, page = adm.curl("/", raw=True)
    assert st == 200 and "<title>Gatehouse</title>" in page, page[:200]
    st, js = adm.curl("/app.js", raw=True)
    assert st == 200 and "X-CSRF-Token" in js
    for path in ("/../../etc/passwd", "/%2e%2e/etc/passwd", "/.hidden.js", "/x/app.js",
                 "/app.js.bak", "/index.html/", "/api/nosuch", "/api/grants/0/revoke",
                 "/api/grants/01/revoke", "/api/grants/99999999999999999999/revoke"):
        st, r = adm.curl(path)
        assert st in (404, 405), "%s: %s %s" % (path, st, r)
    st, r = adm.curl("/api/login", "GET")
    assert st == 405, r
    # headers: every reply carries the security headers
    out = subprocess.run(["curl", "-skI", "--max-time", "10", adm.url + "/"],
                         capture_output=True, text=True, timeout=20).stdout.lower()
    assert "content-security-policy: default-src 'none'" in out, out
    assert "x-content-type-options: nosniff" in out and "x-frame-options: deny" in out, out


def test_api_login_limits_and_audit(ctx):
    d, adm = world_daemon(ctx)
    jar = os.path.join(adm.dir, "jar")
    name, pw = USERS["head"]
    # bad input: never a crash, a JSON error
    for body, ctype, want in (("{", "application/json", 400), ("[]", "application/json", 400),
                              ('{"name":"a","password":"b","x":"y"}', "application/json", 400),
                              ('{"name":1,"password":"b"}', "application/json", 400),
                              ('{"name":"a","name":"b","password":"c"}', "application/json", 400),
                              ("name=a&password=b", "application/x-www-form-urlencoded", 415),
                              ('{"name":"a","password":"' + "x" * 20000 + '"}',
                               "application/json", 413)):
        st, r = adm.curl("/api/login", "POST", body, ctype=ctype)
        assert st == want and "error" in r, "%r: %s %s" % (body[:40], st, r)
    # a wrong password is refused and counted; the fifth locks the account
    for i in range(5):
        st, r = adm.curl("/api/login", "POST", {"name": name, "password": "wrong-%d" % i})
        assert st == 401 and r["error"] == "wrong name or password", (st, r)
    st, r = adm.curl("/api/login", "POST", {"name": name, "password": pw})
    assert st == 429 and "too many failed" in r["error"], "locked account let in: %s %s" % (st, r)
    # another account from the same address is not locked
    csrf = adm.login("technician", jar)
    st, s = adm.curl("/api/status", jar=jar)
    assert st == 200 and s["running"] is True and s["admin"]["login_failures"] >= 5, s
    acts = audit_actions(adm, jar)
    failed = [a for a in acts if a[1] == "login-failed" and a[0] == "%s (web)" % name]
    assert len(failed) == 5, acts
    assert any(a[1] == "login-refused" for a in acts), acts
    assert any(a[1] == "login" and a[0] == "tech (web)" for a in acts), acts
    # a session cookie with its attributes
    out = subprocess.run(["curl", "-sk", "-D", "-", "-o", "/dev/null", "--max-time", "10",
                          "-H", "Content-Type: application/json", "--data-binary",
                          json.dumps({"name": "mr.dsl", "password": USERS["dsl"][1]}),
                          adm.url + "/api/login"], capture_output=True, text=True,
                         timeout=20).stdout
    cookie = [line for line in out.splitlines() if line.lower().startswith("set-cookie")]
    assert cookie and all(x in cookie[0] for x in ("Secure", "HttpOnly", "SameSite=Strict")), out
    # log-out ends the session
    st, r = adm.curl("/api/logout", "POST", {}, jar=jar, headers=["X-CSRF-Token: " + csrf])
    assert st == 200, r
    st, r = adm.curl("/api/me", jar=jar)
    assert st == 401, r
    # a removed account's session ends at once
    jar2 = os.path.join(adm.dir, "jar2")
    adm.login("dsl", jar2)
    p = subprocess.run([bin_path(ctx, "gatehousectl"), "-c", d.conf, "users", "remove", "mr.dsl"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    st, r = adm.curl("/api/me", jar=jar2)
    assert st == 401, "session of a removed account still works: %s" % r


def test_api_grant_revoke_roles_csrf(ctx):
    d, adm = world_daemon(ctx)
    a = visitor_query(d)
    assert a.rdatas("A") == [BLOCK], "ungranted visitor: %s" % a.text
    assert visitor_query(d, STAFF).rdatas("A") == [REAL]
    jar = os.path.join(adm.dir, "jar")
    csrf = adm.login("head", jar)
    st, me = adm.curl("/api/me", jar=jar)
    assert me["may"] == {"grants": True, "safeguarding": False, "status": False}, me
    v = wait_visitor(adm, jar)
    dev = [x for x in v["devices"] if x["address"] == VISITOR][0]
    assert dev["segment"] == "visitor" and NAME + "." in dev["names"] and dev["grant"] is None, dev
    # the head teacher may not search or see status
    for path in ("/api/search", "/api/status", "/api/reports", "/api/audit"):
        st, r = adm.curl(path, jar=jar)
        assert st == 403, "%s: %s" % (path, st)
    grant = {"kind": "guest", "client": VISITOR, "duration": "1h", "reason": "visiting speaker"}
    # no CSRF token, a wrong one, another site's Origin: refused, nothing granted
    for hdrs in ([], ["X-CSRF-Token: " + "0" * 64],
                 ["X-CSRF-Token: " + csrf, "Origin: https://evil.example"]):
        st, r = adm.curl("/api/grants", "POST", grant, jar=jar, headers=hdrs)
        assert st == 403, "%s: %s %s" % (hdrs, st, r)
    # bad grants: a clear JSON error
    H = ["X-CSRF-Token: " + csrf]
    for bad, words in (({**grant, "reason": ""}, "reason"), ({**grant, "duration": "forever"},
                                                             "duration"),
                       ({**grant, "client": "10.9.9.9"}, ""), ({**grant, "kind": "root"}, "kind"),
                       ({**grant, "duration": "400d"}, ""), ({**grant, "reason": "a\nb"}, "reason")):
        st, r = adm.curl("/api/grants", "POST", bad, jar=jar, headers=H)
        assert st == 400 and words in r.get("error", ""), "%s: %s %s" % (bad, st, r)
    st, r = adm.curl("/api/grants", "GET", jar=jar)
    assert r["live"] == [], r
    assert visitor_query(d).rdatas("A") == [BLOCK]
    # grant: the visitor resolves
    st, g = adm.curl("/api/grants", "POST", grant, jar=jar, headers=H)
    assert st == 201 and g["by"] == "mrs.head" and g["state"] == "live", (st, g)
    assert g["until"] - g["from"] == 3600, g
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and visitor_query(d).rdatas("A") != [REAL]:
        time.sleep(0.2)
    assert visitor_query(d).rdatas("A") == [REAL], "granted visitor still blocked"
    # gatehousectl sees the same grant
    p = subprocess.run([bin_path(ctx, "gatehousectl"), "-c", d.conf, "grants"],
                       capture_output=True, text=True, timeout=30)
    assert VISITOR in p.stdout and "mrs.head" in p.stdout, p.stdout + p.stderr
    # a DSL cannot grant or revoke
    jar_dsl = os.path.join(adm.dir, "jar-dsl")
    csrf_dsl = adm.login("dsl", jar_dsl)
    st, r = adm.curl("/api/grants", "POST", grant, jar=jar_dsl, headers=["X-CSRF-Token: " + csrf_dsl])
    assert st == 403, (st, r)
    st, r = adm.curl("/api/grants/%d/revoke" % g["id"], "POST", {}, jar=jar_dsl,
                     headers=["X-CSRF-Token: " + csrf_dsl])
    assert st == 403, (st, r)
    # revoke: sinkholed again
    st, r = adm.curl("/api/grants/%d/revoke" % g["id"], "POST", {"reason": "left"}, jar=jar,
                     headers=H)
    assert st == 200 and r["state"] == "revoked" and r["revoked_by"] == "mrs.head", (st, r)
    st, r = adm.curl("/api/grants/%d/revoke" % g["id"], "POST", {}, jar=jar, headers=H)
    assert st == 409, (st, r)
    st, r = adm.curl("/api/grants/999/revoke", "POST", {}, jar=jar, headers=H)
    assert st == 404, (st, r)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and visitor_query(d).rdatas("A") != [BLOCK]:
        time.sleep(0.2)
    assert visitor_query(d).rdatas("A") == [BLOCK], "revoked visitor still resolves"
    # a dispensation by category name
    st, o = adm.curl("/api/options", jar=jar)
    assert "adult" in o["categories"] and "statutory" not in o["categories"], o
    st, e = adm.curl("/api/grants", "POST", {"kind": "exemption", "client": STAFF,
                                             "category": "adult", "duration": "1d",
                                             "reason": "sex education lesson"}, jar=jar, headers=H)
    assert st == 201 and e["kind"] == "exemption" and e["category"] == "adult", (st, e)
    # the audit has every action with the account name
    jar_t = os.path.join(adm.dir, "jar-t")
    adm.login("technician", jar_t)
    acts = audit_actions(adm, jar_t)
    for who, action in (("mrs.head (web)", "grant"), ("mrs.head (web)", "revoke"),
                        ("mrs.head (web)", "csrf-refused"), ("mrs.head (web)", "login")):
        assert any(x[0] == who and x[1] == action for x in acts), (who, action, acts)


def test_api_safeguarding(ctx):
    d, adm = world_daemon(ctx)
    visitor_query(d)
    visitor_query(d, STAFF)
    jar = os.path.join(adm.dir, "jar")
    adm.login("dsl", jar)
    st, r = adm.curl("/api/grants", jar=jar)
    assert st == 403, r
    st, r = adm.curl("/api/reports", jar=jar)
    assert st == 200 and len(r["days"]) == 14, r
    st, html = adm.curl("/api/report?date=" + r["days"][0], raw=True, jar=jar)
    assert st == 200 and "<html" in html.lower(), html[:300]
    for q in ("date=2026-02-30", "date=x", "date=9999-01-01", "date=2026-01-01&x=1"):
        st, e = adm.curl("/api/report?" + q, jar=jar)
        assert st == 400, (q, st, e)
    rows = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        st, s = adm.curl("/api/search?client=%s&since=1h" % VISITOR, jar=jar)
        assert st == 200, s
        rows = s["rows"]
        if rows:
            break
        time.sleep(0.2)
    assert rows and all(x["client"] == VISITOR for x in rows) and rows[0]["name"] == NAME + ".", rows
    st, s = adm.curl("/api/search?segment=staff&name=%s" % NAME, jar=jar)
    assert st == 200 and [x["client"] for x in s["rows"]] == [STAFF], s
    st, csv = adm.curl("/api/search?segment=visitor&format=csv", raw=True, jar=jar)
    assert st == 200 and csv.startswith("time,client,segment,name"), csv[:200]
    assert VISITOR in csv, csv
    for q in ("client=nope", "segment=nosuch", "limit=0", "limit=99999", "since=banana",
              "bogus=1", "format=xml", "since=today&until=yesterday", "name=" + "a" * 300):
        st, e = adm.curl("/api/search?" + q, jar=jar)
        assert st == 400 and "error" in e, (q, st, e)
    jar_t = os.path.join(adm.dir, "jar-t")
    adm.login("technician", jar_t)
    acts = audit_actions(adm, jar_t)
    for action in ("search", "export", "report"):
        assert any(x[0] == "mr.dsl (web)" and x[1] == action for x in acts), (action, acts)
    st, s = adm.curl("/api/status", jar=jar_t)
    assert st == 200 and s["running"] and s["resolver"]["queries"] >= 2, s
    assert [x["name"] for x in s["segments"]] == ["visitor", "staff"], s
    d.close()
    st, s = adm.curl("/api/status", jar=jar_t)
    assert st == 200 and s["running"] is False and "not running" in s["error"], s


def test_browser(ctx):
    node = shutil.which("node")
    if not node:
        ctx.skip("node is missing")
    if not os.path.exists("/usr/bin/chromium"):
        ctx.skip("chromium is missing (/usr/bin/chromium)")
    if not os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "playwright-core")):
        p = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=BROWSER_DIR,
                           capture_output=True, text=True, timeout=90)
        if p.returncode != 0:
            ctx.skip("playwright-core is not installed (npm ci in tests/browser failed)")
    d, adm = world_daemon(ctx)
    a = visitor_query(d)
    assert a.rdatas("A") == [BLOCK], a.text
    shots = os.path.join(ctx.tmpdir, "screenshots")
    profile = os.path.join(ctx.tmpdir, "chromium-profile")
    os.makedirs(shots)
    os.makedirs(profile)
    env = dict(os.environ)
    env.update({"ADMIN_URL": adm.url, "RESOLVER": "%s:%d" % (d.addr, d.port), "VISITOR": VISITOR,
                "NAME": NAME, "REAL": REAL, "BLOCK": BLOCK, "SHOTS": shots, "PROFILE": profile,
                "HEAD_USER": USERS["head"][0], "HEAD_PASS": USERS["head"][1],
                "DSL_USER": USERS["dsl"][0], "DSL_PASS": USERS["dsl"][1],
                "TECH_USER": USERS["technician"][0], "TECH_PASS": USERS["technician"][1]})
    # wait until the visitor's query is in the log, so the page lists it
    jar = os.path.join(adm.dir, "jar")
    adm.login("technician", jar)
    wait_visitor(adm, jar)
    p = subprocess.run([node, os.path.join(BROWSER_DIR, "admin.mjs")], cwd=BROWSER_DIR, env=env,
                       capture_output=True, text=True, timeout=100)
    out = p.stdout + p.stderr
    assert p.returncode == 0, "browser test failed:\n" + out[-3000:]
    for step in ("wrong password refused", "grant for one hour", "revoke", "DSL cannot grant",
                 "change without the CSRF token refused", "status page"):
        assert "ok " + step in out, "step %r missing:\n%s" % (step, out)
    taken = sorted(os.listdir(shots))
    assert len(taken) == 7, taken
    # The screenshots stay in the test's tmpdir (tests/run --keep keeps it).
    # GATEHOUSE_KEEP_SCREENSHOTS=1 also refreshes the copies committed in
    # tests/browser/screenshots/; a plain test run never changes the tree.
    if os.environ.get("GATEHOUSE_KEEP_SCREENSHOTS") == "1":
        keep = os.path.join(BROWSER_DIR, "screenshots")
        os.makedirs(keep, exist_ok=True)
        for f in taken:
            if os.path.getsize(os.path.join(shots, f)) < 300 * 1024:
                shutil.copy(os.path.join(shots, f), os.path.join(keep, f))
    st, r = adm.curl("/api/audit", jar=jar)
    acts = [(x["who"], x["action"]) for x in r["audit"]]
    assert ("mrs.head (web)", "login-failed") in acts and ("mrs.head (web)", "grant") in acts, acts
