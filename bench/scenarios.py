"""The Lua request generators for wrk, one per scenario, built from the bench dataset."""

from pathlib import Path

LUA_DIR = Path(__file__).parent / "lua"
REPORT = (LUA_DIR / "report.lua").read_text()


def _lua_list(values) -> str:
    return "{" + ", ".join(f'"{v}"' for v in values) + "}"


def get_path(path: str) -> str:
    return f'wrk.method = "GET"\nwrk.path = "{path}"\n' + REPORT


def bare_insert(path: str = "/bench/insert") -> str:
    return (
        f'wrk.method = "POST"\nwrk.path = "{path}"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        'wrk.body = \'{"name": "bench", "guests": 10}\'\n' + REPORT
    )


def availability(slugs: list[str], first_day_epoch: int, days: int, span: int) -> str:
    """GET a random station's availability for `span` days from a random start date."""
    return (
        f"local slugs = {_lua_list(slugs)}\nlocal first = {first_day_epoch}\n"
        f"local days = {days}\nlocal span = {span}\n"
        + """
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
request = function()
  local slug = slugs[math.random(#slugs)]
  local start = first + math.random(0, days - span) * 86400
  local path = string.format("/api/v1/stations/%s/availability/?start=%s&end=%s&guests=10", slug,
    os.date("!%Y-%m-%d", start), os.date("!%Y-%m-%d", start + (span - 1) * 86400))
  return wrk.format("GET", path)
end
"""
        + REPORT
    )


def booking_create(
    slugs: list[str], zips: list[str], first_day_epoch: int, days: int, times: list[str]
) -> str:
    """POST a booking for a random station, day and start time, with a unique customer."""
    return (
        f"local slugs = {_lua_list(slugs)}\nlocal zips = {_lua_list(zips)}\n"
        f"local times = {_lua_list(times)}\nlocal first = {first_day_epoch}\nlocal days = {days}\n"
        + """
local counter = 0
local seed = tonumber(tostring({}):sub(8), 16)
math.randomseed(os.time() + seed)
request = function()
  counter = counter + 1
  local i = math.random(#slugs)
  local day = os.date("!%Y-%m-%d", first + math.random(0, days - 1) * 86400)
  local body = string.format([[{"station": "%s", "event_date": "%s", "start_time": "%s",
    "adults": 8, "children": 2, "addons": [],
    "address": {"line1": "1 Bench St", "city": "Bench", "state": "CA", "zip_code": "%s"},
    "customer": {"name": "Bench %d", "email": "b%x-%d@example.com",
                 "phone": "+1408555%04d", "sms_opt_in": false}}]],
    slugs[i], day, times[math.random(#times)], zips[i], counter, seed, counter, counter % 10000)
  return wrk.format("POST", "/api/v1/bookings/", {["Content-Type"] = "application/json"}, body)
end
"""
        + REPORT
    )


_SIGNED_POST = """
local n = 0
init_hook = function(args)
  n = thread_index - 1
end
request = function()
  local i = (n % #bodies) + 1
  n = n + stride
  return wrk.format("POST", "PATH",
    {["Content-Type"] = "CONTENT_TYPE", ["SIGNATURE_HEADER"] = sigs[i]}, bodies[i])
end
"""


def signed_posts(
    path: str, content_type: str, signature_header: str, items: list[tuple[str, str]], threads: int
) -> str:
    """POST pre-signed (body, signature) pairs to `path`, each once: wrk's threads take
    interleaved indexes."""
    bodies = "\n".join(f"[==[{body}]==]," for body, _ in items)
    signatures = "\n".join(f'"{sig}",' for _, sig in items)
    request = (
        _SIGNED_POST.replace("PATH", path)
        .replace("CONTENT_TYPE", content_type)
        .replace("SIGNATURE_HEADER", signature_header)
    )
    return (
        f"local bodies = {{\n{bodies}\n}}\nlocal sigs = {{\n{signatures}\n}}\n"
        f"local stride = {threads}\n" + request + REPORT
    )


def stripe_webhook(events: list[tuple[str, str]], threads: int = 2) -> str:
    """POST pre-signed Stripe events, each once."""
    return signed_posts(
        "/api/v1/webhooks/stripe", "application/json", "Stripe-Signature", events, threads
    )


def get_with_cookie(path: str, cookie: str) -> str:
    """GET one admin page as a signed-in user (the session cookie)."""
    return f'wrk.method = "GET"\nwrk.path = "{path}"\nwrk.headers["Cookie"] = "{cookie}"\n' + REPORT


def twilio_inbound(messages: list[tuple[str, str]], threads: int = 2) -> str:
    """POST pre-signed Twilio inbound SMS, each once."""
    return signed_posts(
        "/api/v1/webhooks/twilio",
        "application/x-www-form-urlencoded",
        "X-Twilio-Signature",
        messages,
        threads,
    )
