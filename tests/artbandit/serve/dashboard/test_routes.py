"""The dashboard's HTTP side against a real `artbandit serve --catalog`: sessions instead of the key,
variants ranked by id with the index's features, images only from the index, numbers that match."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.dashboard_helpers import HOSTILE, KEY, make_index, rank_ids
from tests.serve_helpers import Server, settled


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("dash")
    cat = make_index(root / "catalogue")
    with Server(root / "state", "--catalog", str(cat)) as srv:
        yield srv


WORKERS = [
    pytest.param((), id="one-process"),
    pytest.param(("--workers", "2", "--model-update-seconds", "0"), id="workers"),
]


def _session(srv: Server) -> httpx.Client:
    c = httpx.Client(base_url=srv.url, timeout=10.0)
    r = c.post("/dashboard/login", data={"key": KEY})
    assert r.status_code == 303 and r.headers["location"] == "/dashboard"
    return c


def test_login_required_and_cookie_is_a_session_not_the_key(served):
    with httpx.Client(base_url=served.url, timeout=10.0) as anon:
        r = anon.get("/dashboard")
        assert r.status_code == 303 and r.headers["location"] == "/dashboard/login"
        assert anon.get("/dashboard/api/overview").status_code == 401
        assert anon.get("/dashboard/api/overview", headers={"Ocp-Apim-Subscription-Key": KEY}).status_code == 401
        assert anon.get("/dashboard/image", params={"title": "film-a", "variant": "a0"}).status_code == 401
        bad = anon.post("/dashboard/login", data={"key": KEY[:-1] + "x"})
        assert bad.status_code == 401 and "Wrong key" in bad.text and "set-cookie" not in bad.headers
        assert anon.get(f"/dashboard?key={KEY}").status_code == 303  # a key in the URL opens nothing
    c = _session(served)
    token = c.cookies.get("artbandit_session")
    assert token and KEY not in token
    with httpx.Client(base_url=served.url) as other:
        raw = other.post("/dashboard/login", data={"key": KEY}).headers.get_list("set-cookie")
    assert len(raw) == 1 and "HttpOnly" in raw[0] and "SameSite=strict" in raw[0] and "Path=/dashboard" in raw[0]
    assert KEY not in raw[0]
    page = c.get("/dashboard")
    assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    assert "<script>" not in page.text  # no inline script: the CSP forbids it
    assert c.get("/dashboard/api/overview").status_code == 200
    c.post("/dashboard/logout")
    c.cookies.set("artbandit_session", token, path="/dashboard")  # the old token, replayed
    assert c.get("/dashboard/api/overview").status_code == 401  # it died with the logout, server-side
    c.close()


def test_rank_by_variant_id_fills_features_from_the_catalogue(served):
    c = served.client
    ranked = rank_ids(c, ["a0", "a1", "a2", "a3"])
    assert sorted(x["id"] for x in ranked["ranking"]) == ["a0", "a1", "a2", "a3"]
    # with features: kept as sent (the request works as before)
    r = c.post(
        "/rank",
        json={
            "contextFeatures": [],
            "actions": [{"id": "zz", "features": [{"x": 1}]}, {"id": "a1", "features": [{"y": 2}]}],
        },
    )
    assert r.status_code == 201
    r = c.post("/rank", json={"contextFeatures": [], "actions": [{"id": "nope"}, {"id": "a1"}]})
    assert r.status_code == 400 and "'nope'" in r.json()["error"]["message"]
    assert "\n" not in r.json()["error"]["message"]


def test_images_only_from_the_index(served):
    c = _session(served)
    ok = c.get("/dashboard/image", params={"title": "film-a", "variant": "a2"})
    assert ok.status_code == 200 and ok.headers["content-type"] == "image/png" and ok.content[:4] == b"\x89PNG"
    for title, variant in [
        ("film-a", "../../secret.txt"),
        ("film-a", "../catalog.parquet"),
        ("..", "secret.txt"),
        ("film-a", "/etc/passwd"),
        ("film-a", "a9"),
    ]:
        assert c.get("/dashboard/image", params={"title": title, "variant": variant}).status_code == 404
    assert c.get("/dashboard/static/../routes.py").status_code == 404
    c.close()


def test_title_probabilities_are_what_rank_answers_and_counts_follow_rewards(served):
    c = _session(served)
    d = c.get("/dashboard/api/title", params={"id": "film-a"}).json()
    ranked = rank_ids(served.client, ["a0", "a1", "a2", "a3"])
    answered = {x["id"]: x["probability"] for x in ranked["ranking"]}
    assert {v["id"]: v["probability"] for v in d["variants"]} == pytest.approx(answered, abs=1e-12)
    hostile = c.get("/dashboard/api/title", params={"id": "<script>alert('t')</script>"}).json()
    assert [v["id"] for v in hostile["variants"]] == ["b0", HOSTILE]
    assert c.get("/dashboard/api/title", params={"id": "nope"}).status_code == 404
    c.close()


@pytest.mark.parametrize("workers", WORKERS)
def test_overview_counts_and_reward_estimates(tmp_path, workers):
    """The live view's counts and estimates: the single process counts what it serves; with rankers
    the learner counts every event and every ranker's dashboard shows its counts."""
    cat = make_index(tmp_path / "catalogue")
    with Server(tmp_path / "state", "--catalog", str(cat), *workers) as srv:
        rewards, base, unif = [], [], []
        for i in range(40):
            r = rank_ids(srv.client, ["a0", "a1", "a2", "a3"], event_id=f"e{i}")
            value = 1.0 if r["rewardActionId"] in ("a0", "a2") else 0.0
            p = r["ranking"][0]["probability"]
            assert srv.client.post(f"/events/e{i}/reward", json={"value": value}).status_code == 204
            rewards.append(value)
            base.append(value / p if r["rewardActionId"] == "a0" else 0.0)
            unif.append(value / (4 * p))
        c = _session(srv)
        for _ in range(200):  # closed events reach the dashboard after the commit (rankers: the learner's)
            d = c.get("/dashboard/api/overview").json()
            if sum((m["live"] or {}).get("n", 0) for m in d["minutes"]) == 40 and d["ranks"] == 40:
                break
            time.sleep(0.05)
        closed = [m for m in d["minutes"] if m["live"]]
        if len(closed) == 1:  # all in one minute (else the per-minute means are checked summed up)
            assert closed[0]["live"]["mean"] == pytest.approx(sum(rewards) / 40)
            assert closed[0]["baseline"]["mean"] == pytest.approx(sum(base) / 40)
            assert closed[0]["uniform"]["mean"] == pytest.approx(sum(unif) / 40)
            assert closed[0]["live"]["lo"] < closed[0]["live"]["mean"] < closed[0]["live"]["hi"]
        assert sum(m["live"]["mean"] * m["live"]["n"] for m in closed) == pytest.approx(sum(rewards))
        assert sum(m["baseline"]["mean"] * m["baseline"]["n"] for m in closed) == pytest.approx(sum(base))
        assert sum(m["decisions"] for m in d["minutes"]) == 40
        assert sum(m["rewards"] for m in d["minutes"]) == 40
        assert d["ranks"] == 40 and d["eventsPending"] in range(41)
        assert d["colours"]["live"] == "#0072B2"  # vw:select's colour in every report
        title = c.get("/dashboard/api/title", params={"id": "film-a"}).json()
        assert sum(v["impressions"] for v in title["variants"]) == 40, title  # per variant, from the closed events
        c.close()


def _learnable_traffic(client, n: int) -> None:
    """Segment "a" viewers reward a2, the others a3; never the baseline a0 (fixed rule, fixed event ids)."""
    for i in range(n):
        seg = "abc"[i % 3]
        r = rank_ids(client, ["a0", "a1", "a2", "a3"], event_id=f"t{i}", context=[{"user": {"segment": seg}}])
        good = "a2" if seg == "a" else "a3"
        assert (
            client.post(f"/events/t{i}/reward", json={"value": float(r["rewardActionId"] == good)}).status_code == 204
        )


def _finished(client, eid: str) -> dict:
    for _ in range(600):
        e = client.get(f"/evaluations/{eid}").json()
        if e["status"] != "pending":
            return e
        import time

        time.sleep(0.1)
    raise AssertionError("the evaluation did not finish")


def _logged(srv: Server, n: int) -> None:
    """Wait until the event log holds n closed events (with --workers the learner writes it a moment
    after the rewards were acknowledged; the single process before it answered)."""
    import sqlite3

    for _ in range(600):
        try:
            db = sqlite3.connect(f"file:{srv.state / 'events.sqlite'}?mode=ro", uri=True)
            (count,) = db.execute("SELECT COUNT(*) FROM events WHERE reward IS NOT NULL").fetchone()
            db.close()
            if count >= n:
                return
        except sqlite3.Error:
            pass
        time.sleep(0.05)
    raise AssertionError(f"the event log never held {n} rewarded events")


@pytest.mark.parametrize("workers", WORKERS)
def test_personalizer_admin_contract_evaluations_importance_reset(tmp_path, workers):
    """The same contract from the single process and from rankers (`--workers`: every ranker lists,
    reads and deletes the evaluation whichever ranker started it; a new connection per request)."""
    with Server(tmp_path / "state", "--catalog", str(make_index(tmp_path / "catalogue")), *workers) as srv:
        c = srv.client
        # update_policy answers with the name it was given; reset (was 405) restores the defaults
        assert (
            c.put("/configurations/policy", json={"name": "mine", "arguments": "--cb_explore_adf --squarecb"}).json()[
                "name"
            ]
            == "mine"
        )
        assert c.get("/configurations/policy").json()["name"] == "mine"
        reset = c.delete("/configurations/policy")
        assert reset.status_code == 200 and reset.json() == {
            "name": "artbandit",
            "arguments": "--cb_explore_adf --select",
        }
        assert c.get("/evaluations").json() == [] and c.get("/featureimportances").json() == []
        _learnable_traffic(c, 300)
        _logged(srv, 300)
        r = c.post(
            "/evaluations", json={"name": "<b>week</b>", "policies": [{"name": "sq", "arguments": "vw:squarecb"}]}
        )
        assert r.status_code == 201 and r.headers["location"].endswith("/evaluations/" + r.json()["id"])
        e = _finished(c, r.json()["id"])
        assert e["status"] == "completed" and e["name"] == "<b>week</b>" and e["events"] == 300
        for _ in range(4):  # whichever process answers a new connection
            with httpx.Client(base_url=c.base_url, headers=c.headers, timeout=10.0) as fresh:
                assert fresh.get(f"/evaluations/{e['id']}").json()["events"] == 300
                assert [x["id"] for x in fresh.get("/evaluations").json()] == [e["id"]]
        names = {p["name"]: p for p in e["policyResults"]}
        assert {"logged", "baseline", "uniform", "vw:squarecb"} <= set(names)
        assert names["baseline"]["policySource"] == "Baseline" and names["uniform"]["policySource"] == "Random"
        for p in names.values():
            t = p["totalSummary"]
            assert t["low"] <= t["averageReward"] <= t["high"]
        # the learnable rule: the segment matters most; uniform is far below what the service earned
        assert e["featureImportance"][0][0] == "user"
        assert e["optimalPolicy"] in names and e["decision"]["recommendation"]
        assert names["uniform"]["totalSummary"]["high"] < names["logged"]["totalSummary"]["low"]
        fi = c.get("/featureimportances").json()
        assert fi[0]["id"] == e["id"] and fi[0]["featureScores"][0]["featureName"] == "context:user"
        bad = c.post("/evaluations", json={"policies": [{"arguments": "vw:nope"}]})
        assert bad.status_code == 400 and "\n" not in bad.json()["error"]["message"]
        assert c.post("/evaluations", json={"nam": "x"}).status_code == 400
        assert c.get("/evaluations/nope").status_code == 404
        assert c.delete(f"/evaluations/{e['id']}").status_code == 204
        assert c.get(f"/evaluations/{e['id']}").status_code == 404 and c.get("/evaluations").json() == []
        for _ in range(4):
            with httpx.Client(base_url=c.base_url, headers=c.headers, timeout=10.0) as fresh:
                assert (
                    fresh.get("/evaluations").json() == [] and fresh.get(f"/evaluations/{e['id']}").status_code == 404
                )
        # the contract needs the key like every other route
        assert httpx.get(srv.url + "/personalizer/v1.0/evaluations").status_code == 401


@pytest.mark.parametrize("workers", WORKERS)
def test_apply_winner_then_roll_back(tmp_path, workers):
    with Server(tmp_path / "state", "--catalog", str(make_index(tmp_path / "catalogue")), *workers) as srv:
        c = srv.client
        _learnable_traffic(c, 240)
        _logged(srv, 240)
        settled(srv)

        def pmf(event_id: str) -> dict:
            ranked = rank_ids(c, ["a0", "a1", "a2", "a3"], event_id=event_id, context=[{"user": {"segment": "b"}}])
            return {x["id"]: x["probability"] for x in ranked["ranking"]}

        served_before = pmf("probe-before")
        eid = c.post("/evaluations", json={"name": "x"}).json()["id"]
        e = _finished(c, eid)
        assert e["optimalPolicy"].startswith("vw")
        s = _session(srv)
        assert s.post(f"/dashboard/api/evaluations/{eid}/apply").status_code == 403  # no CSRF header
        r = s.post(f"/dashboard/api/evaluations/{eid}/apply", headers={"X-Artbandit-Dashboard": "1"})
        assert r.status_code == 200 and r.json()["applied"] == e["optimalPolicy"]
        assert (srv.state / "previous-model.bin").read_bytes().startswith(b"ARTBANDIT-MODEL")  # an export blob
        assert c.get(f"/evaluations/{eid}").json()["status"] == "optimalPolicyApplied"
        settled(srv)
        served_applied = pmf("probe-applied")
        assert served_applied != pytest.approx(served_before, abs=1e-6)  # another model answers
        assert max(served_applied, key=served_applied.get) == "a3"  # it learned the log: b viewers want a3
        rb = s.post("/dashboard/api/rollback", headers={"X-Artbandit-Dashboard": "1"})
        assert rb.status_code == 200
        settled(srv)
        assert pmf("probe-after") == pytest.approx(served_before, abs=1e-12)  # the previous model is back
        s.close()


def test_openapi_describes_bodies_and_the_key_and_docs_need_no_cdn(served):
    doc = httpx.get(served.url + "/openapi.json").json()
    assert doc["openapi"] == "3.0.3"
    assert doc["components"]["securitySchemes"]["subscriptionKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Ocp-Apim-Subscription-Key",
    }
    rank = doc["paths"]["/personalizer/v1.0/rank"]["post"]
    assert rank["security"] == [{"subscriptionKey": []}]
    assert rank["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/RankRequest"}
    assert rank["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].endswith("/RankResponse")
    assert rank["responses"]["400"]["content"]["application/json"]["schema"]["$ref"].endswith("/Error")
    assert "422" not in rank["responses"]
    assert "/personalizer/v1.0/evaluations" in doc["paths"] and "/personalizer/rank" not in doc["paths"]
    assert not any(p.startswith("/dashboard") for p in doc["paths"])
    page = httpx.get(served.url + "/docs").text
    assert "cdn." not in page and "https://" not in page and "/docs/static/swagger-ui-bundle.js" in page
    js = httpx.get(served.url + "/docs/static/swagger-ui-bundle.js")
    assert js.status_code == 200 and len(js.content) > 500_000
    assert httpx.get(served.url + "/docs/static/..%2Fswagger-ui.js").status_code == 404
    assert httpx.get(served.url + "/docs/static/index.j2").status_code == 404


def test_grafana_dashboard_queries_metrics_the_service_exposes(served):
    import json
    import re
    from pathlib import Path

    board = json.loads((Path(__file__).resolve().parents[4] / "docs" / "grafana" / "artbandit-serve.json").read_text())
    exposed = set(
        re.findall(
            r"^(artbandit_[a-z_]+?)(?:_bucket|_sum|_count)?[{ ]",
            httpx.get(served.url + "/metrics", headers={"Ocp-Apim-Subscription-Key": KEY}).text,
            re.MULTILINE,
        )
    )
    exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
    assert len(exprs) >= 10
    for expr in exprs:
        names = set(re.findall(r"artbandit_[a-z_]+", expr))
        assert names and all(n in exposed or n.removesuffix("_bucket") in exposed for n in names), (expr, exposed)


def test_not_a_catalogue_is_one_line_and_nothing_starts(tmp_path):
    import os
    import subprocess
    import sys

    (tmp_path / "empty").mkdir()
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "artbandit",
            "serve",
            "--state",
            str(tmp_path / "state"),
            "--catalog",
            str(tmp_path / "empty"),
        ],
        env={**os.environ, "ARTBANDIT_API_KEY": KEY},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode != 0 and "Traceback" not in r.stderr and "internal error" not in r.stderr
    assert "--catalog" in r.stderr and "catalog.parquet" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "state").exists()  # checked before the state folder is created


def test_sessions_are_signed_expire_survive_another_process_and_end_at_logout():
    from artbandit.serve.dashboard.sessions import Sessions

    s = Sessions(b"k" * 20, ttl_s=10)
    assert not s.key_matches("k" * 19) and s.key_matches("k" * 20) and not s.key_matches("")
    t = s.open(now=0.0)
    assert s.valid(t, now=9.9) and not s.valid(t, now=10.0)  # an absolute expiry
    # another ranker process with the same key accepts it (serve --workers), another key does not
    assert Sessions(b"k" * 20, ttl_s=10).valid(t, now=5.0)
    assert not Sessions(b"j" * 20, ttl_s=10).valid(t, now=5.0)
    expiry, nonce, mac = t.split(".")
    forged = [
        f"{int(expiry) + 3600}.{nonce}.{mac}",
        f"{expiry}.{nonce[:-1]}{'B' if nonce[-1] == 'A' else 'A'}.{mac}",
        f"{expiry}.{nonce}.",
        "",
        "x" * 300,
    ]
    assert not any(s.valid(x, now=5.0) for x in forged)  # tampered, truncated or oversized: refused
    assert len({s.open(now=0.0) for _ in range(100)}) == 100  # 128 random bits each
    s.close(t, now=5.0)
    assert not s.valid(t, now=5.0) and s.valid(s.open(now=5.0), now=6.0)  # logged out; others live
    assert all(len(k) == 32 for k in s._logouts)  # only digests of logged-out tokens are kept
    small = Sessions(b"k" * 20, ttl_s=10, max_logouts=2)
    tokens = [small.open(now=0.0) for _ in range(3)]
    for x in tokens[:2]:
        small.close(x, now=1.0)
    small.close(tokens[2], now=1.0)  # a third logout past the bound: a new secret ends every session
    assert not any(small.valid(x, now=2.0) for x in tokens) and len(small._logouts) == 0
    open_service = Sessions(None)
    assert open_service.valid(None) and open_service.key_matches("anything")  # --no-auth: open, like the API


def test_a_logout_is_shared_with_every_process_through_the_store():
    """With rankers, a logout answered by one process is refused by the others: the store holds one
    entry per logged-out token (named by its digest, never the token), dropped after its expiry by the
    process that wrote it. A store that fails keeps the local refusal and never raises."""
    from artbandit.serve.dashboard.sessions import Sessions, SharedLogouts

    store: dict[str, bytes] = {}
    shared = SharedLogouts(store.__setitem__, store.get, lambda name: store.pop(name, None))
    one, two = (Sessions(b"k" * 20, ttl_s=10, shared=shared) for _ in range(2))
    alone = Sessions(b"k" * 20, ttl_s=10)  # no store: the single process
    t = one.open(now=0.0)
    assert one.valid(t, now=1.0) and two.valid(t, now=1.0)
    one.close(t, now=2.0)
    assert not one.valid(t, now=3.0) and not two.valid(t, now=3.0)  # refused by the other process too
    assert alone.valid(t, now=3.0)  # (what a second ranker answered before the store held logouts)
    (name,) = store
    assert name.startswith("dashboard-logout-") and t.split(".")[1] not in name and store[name] == b"10"
    later = one.open(now=11.0)
    one.close(later, now=12.0)  # the first token expired at 10: its entry is dropped
    assert list(store) != [name] and len(store) == 1

    def broken(*_):
        raise OSError("the stream is away")

    away = Sessions(b"k" * 20, ttl_s=10, shared=SharedLogouts(broken, broken, broken))
    u = away.open(now=0.0)
    assert away.valid(u, now=1.0)  # signature and expiry decide while the store is away
    away.close(u, now=1.0)
    assert not away.valid(u, now=2.0)  # this process still refuses it


def test_a_dashboard_session_holds_on_every_ranker_of_serve_workers(tmp_path):
    """A browser opens several connections, which the kernel spreads over the rankers: a session opened
    on one ranker must hold on the others, and the configuration form works through a ranker (the
    change goes to the learner; every ranker then serves it)."""
    with Server(tmp_path / "state", "--workers", "2", "--model-update-seconds", "0") as srv:
        c = _session(srv)
        cookie = c.cookies.get("artbandit_session")

        def fresh() -> httpx.Client:  # a new connection: either ranker may answer
            return httpx.Client(base_url=srv.url, timeout=10.0, cookies={"artbandit_session": cookie})

        codes = []
        for _ in range(12):
            with fresh() as f:
                codes.append(f.get("/dashboard/api/configuration").status_code)
        assert codes == [200] * 12, codes
        h = {"X-Artbandit-Dashboard": "1"}
        r = c.post("/dashboard/api/configuration", json={"explorationPercentage": 0.3}, headers=h)
        assert r.status_code == 200 and r.json()["service"]["explorationPercentage"] == 0.3, r.text
        bad = c.post("/dashboard/api/configuration", json={"rewardWaitTime": "ten minutes"}, headers=h)
        assert bad.status_code == 400 and "is not an ISO-8601" in bad.json()["error"]["message"], bad.text
        seen = []
        for _ in range(200):  # every ranker serves the change within the update period
            with fresh() as f:
                seen.append(f.get("/dashboard/api/configuration").json()["service"]["explorationPercentage"])
            if seen[-8:] == [0.3] * 8:
                break
            time.sleep(0.05)
        assert seen[-8:] == [0.3] * 8, seen
        c.post("/dashboard/logout", headers=h)
        c.close()
        codes = []
        for _ in range(12):  # the logged-out cookie, copied: refused by whichever ranker answers
            with fresh() as f:
                codes.append(f.get("/dashboard/api/configuration").status_code)
        assert codes == [401] * 12, codes


def test_dashboard_edits_the_allowed_service_settings_with_the_services_checks(served):
    c = _session(served)
    before = served.client.get("/configurations/service").json()
    h = {"X-Artbandit-Dashboard": "1"}
    r = c.post("/dashboard/api/configuration", json={"explorationPercentage": 0.2, "rewardWaitTime": "PT5M"}, headers=h)
    assert r.status_code == 200 and r.json()["service"]["explorationPercentage"] == 0.2
    after = served.client.get("/configurations/service").json()  # what Personalizer's GET answers now
    assert after == {**before, "explorationPercentage": 0.2, "rewardWaitTime": "PT5M"}
    # invalid: the validator's own one-line message, and nothing of the request applied
    for change, message in [
        ({"explorationPercentage": 1.5, "defaultReward": 0.5}, "explorationPercentage must be a number in [0, 1]"),
        ({"learningMode": "Sometimes"}, "learningMode must be one of Online, Apprentice, LoggingOnly"),
        ({"rewardWaitTime": "ten minutes"}, "rewardWaitTime: 'ten minutes' is not an ISO-8601"),
        ({"logRetentionDays": 1.5}, "logRetentionDays must be an integer"),
        ({"vwArguments": "-d /etc/passwd"}, "unknown service configuration field 'vwArguments'"),
    ]:
        bad = c.post("/dashboard/api/configuration", json=change, headers=h)
        assert bad.status_code == 400 and bad.json()["error"]["message"].startswith(message), bad.text
        assert "\n" not in bad.json()["error"]["message"]
    assert served.client.get("/configurations/service").json() == after
    # the same guards as the dashboard's other actions: a session, and a header no cross-site form sends
    assert c.post("/dashboard/api/configuration", json={"explorationPercentage": 0.3}).status_code == 403
    with httpx.Client(base_url=served.url, timeout=10.0) as anon:
        assert (
            anon.post("/dashboard/api/configuration", json={"explorationPercentage": 0.3}, headers=h).status_code == 401
        )
        assert (
            anon.post(
                "/dashboard/api/configuration",
                json={"explorationPercentage": 0.3},
                headers={**h, "Ocp-Apim-Subscription-Key": KEY},
            ).status_code
            == 401
        )  # the key is no session
    assert served.client.get("/configurations/service").json() == after
    assert c.post("/dashboard/api/configuration", json=before, headers=h).json()["service"] == before  # put back
    c.close()


def test_an_evaluation_over_a_time_window_covers_exactly_the_events_logged_in_it(tmp_path):
    import datetime as dt

    from bandit.log.eventlog import EventLog

    def iso(t: float) -> str:
        return dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat().replace("+00:00", "Z")

    with Server(tmp_path / "state", "--catalog", str(make_index(tmp_path / "catalogue"))) as srv:
        c = srv.client
        _learnable_traffic(c, 90)
        for _ in range(200):  # closed events reach the event log from the writer thread
            with EventLog(srv.state / "events.sqlite", readonly=True) as log:
                times = [row[0] for row in log.iter_outcomes()]
            if len(times) == 90:
                break
            import time

            time.sleep(0.05)
        assert len(times) == 90 and times == sorted(times)
        cut = (times[39] + times[40]) / 2  # 40 events before, 50 after
        e = _finished(c, c.post("/evaluations", json={"name": "late", "startTime": iso(cut)}).json()["id"])
        assert e["status"] == "completed" and e["events"] == 50 and e["startTime"] == iso(cut)
        e = _finished(c, c.post("/evaluations", json={"name": "early", "endTime": iso(cut)}).json()["id"])
        assert e["status"] == "completed" and e["events"] == 40
        whole = _finished(c, c.post("/evaluations", json={"name": "all"}).json()["id"])
        assert whole["events"] == 90
        # an empty window (or one too small to estimate) is the caller's mistake: 400, one line, no job
        for body, message in [
            ({"startTime": iso(times[-1] + 3600)}, "the log has 0 events from "),
            (
                {"startTime": iso(times[0] - 60), "endTime": iso((times[4] + times[5]) / 2)},
                "the log has 5 events from ",
            ),
            ({"startTime": iso(cut), "endTime": iso(cut - 1)}, "startTime must be before endTime"),
            ({"startTime": "yesterday"}, "startTime must be an ISO-8601 date-time"),
            ({"endTime": 12}, "endTime must be an ISO-8601 date-time"),
        ]:
            r = c.post("/evaluations", json=body)
            assert r.status_code == 400 and r.json()["error"]["message"].startswith(message), r.text
            assert "\n" not in r.json()["error"]["message"]
        assert len(c.get("/evaluations").json()) == 3
        # the dashboard's form: the last N hours by the server's clock
        s = _session(srv)
        h = {"X-Artbandit-Dashboard": "1"}
        for hours in (0, -1, "2", 1e9):
            bad = s.post("/dashboard/api/evaluations", json={"name": "x", "hours": hours}, headers=h)
            assert bad.status_code == 400 and bad.json()["error"]["message"].startswith("hours must be a number")
        r = s.post("/dashboard/api/evaluations", json={"name": "hour", "hours": 1}, headers=h)
        assert r.status_code == 201, r.text
        e = _finished(c, r.json()["id"])
        assert e["events"] == 90 and e["endTime"] is None
        assert (
            times[0] - 3600 - 5
            < dt.datetime.fromisoformat(e["startTime"].replace("Z", "+00:00")).timestamp()
            < times[0]
        )
        s.close()
