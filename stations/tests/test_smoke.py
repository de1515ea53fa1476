def test_health_and_token(api_client, sj_manager, staff_client):
    r = api_client.get("/api/v1/health")
    assert r.status_code == 200, r.content
    assert r.json()["database"] == "connected"
    r = api_client.post(
        "/api/v1/auth/token", {"username": "sj-manager", "password": "hibachi-demo"}
    )
    assert r.status_code == 200, r.content
    r = staff_client(sj_manager).get("/api/v1/staff/stations/")
    assert [s["slug"] for s in r.json()["results"]] == ["san-jose"]
    assert staff_client(sj_manager).get("/api/v1/staff/stations/sacramento/").status_code == 404
