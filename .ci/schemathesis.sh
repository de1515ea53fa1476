#!/usr/bin/env bash
# Schemathesis against the API's own OpenAPI schema: every check (--checks all), bounded
# examples, as a staff user and anonymously. Fails on any failure. `make schemathesis` runs it
# (with embedded services when DATABASE_URL / REDIS_URL are not set); .ci/run runs it in CI.
#
#   1. schemathesis, pinned, in a virtualenv of its own under .ci-tools/ (a tool, not a
#      dependency of the project: it is not in pyproject.toml and never in .venv),
#   2. a database of its own on DATABASE_URL's server (SCHEMATHESIS_DATABASE_URL, default: the
#      same server, database "schemathesis"), dropped and created, migrated, seeded with the
#      demo data (seed_demo) under a random password,
#   3. the site under gunicorn on 127.0.0.1:$SCHEMATHESIS_PORT with DEBUG off and no provider
#      settings (Stripe offline, mail to the console), from this checkout's .venv,
#   4. a staff token for demo-owner (owner of both stations) from POST /api/v1/auth/token,
#   5. four runs (.ci/schemathesis.toml holds the configuration, its one exception, and values
#      from the demo data that let generated requests reach the business logic):
#      - anonymous: every operation with no credentials (staff operations must answer 401);
#      - staff: every operation with the token but two: signing out (it would end the token
#        the run uses) and changing a station's settings (a generated PATCH deactivates the
#        stations or shrinks their parties to one guest, and the rest of the run would meet
#        only 404s and 400s);
#      - a station's settings, then, with the same token;
#      - signing out, with a token of its own: the first request ends it (204), the others
#        are refused (401),
#   6. the server stopped, whatever happened.
#
# The Stripe webhook is not in the schema (Stripe posts to it, signed; no client is generated
# for it), so schemathesis does not call it; payments/tests/test_webhook.py covers it.
#
# Settings (environment): SCHEMATHESIS_MAX_EXAMPLES (default 25 per operation and phase),
# SCHEMATHESIS_SEED (default 1; any number, for another sample of inputs), SCHEMATHESIS_PORT
# (8766), SCHEMATHESIS_DATABASE_URL, SCHEMATHESIS_VERSION (pinned below).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

SCHEMATHESIS_VERSION="${SCHEMATHESIS_VERSION:-4.32.5}"
TOOL_DIR=".ci-tools/schemathesis-$SCHEMATHESIS_VERSION"
PY=".venv/bin/python"
PORT="${SCHEMATHESIS_PORT:-8766}"
MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-25}"
SEED="${SCHEMATHESIS_SEED:-1}"
BASE_URL="http://127.0.0.1:$PORT"
SCHEMA_URL="$BASE_URL/api/schema/?format=json"
SERVER_LOG="$(mktemp -t hibachi-schemathesis-server.XXXXXX)"
SERVER_PGID=""

: "${DATABASE_URL:?set DATABASE_URL (PostgreSQL; make schemathesis starts an embedded one)}"
: "${REDIS_URL:?set REDIS_URL (make schemathesis starts an embedded one)}"
DB_URL="${SCHEMATHESIS_DATABASE_URL:-${DATABASE_URL%/*}/schemathesis}"

step() { printf '\n==> schemathesis: %s\n' "$*"; }

stop_server() {
    [[ -n "$SERVER_PGID" ]] || return 0
    local pgid="$SERVER_PGID" waited
    SERVER_PGID=""
    kill -s TERM -- "-$pgid" 2>/dev/null || return 0
    for ((waited = 0; waited < 30; waited++)); do
        kill -0 -- "-$pgid" 2>/dev/null || return 0
        sleep 1
    done
    kill -s KILL -- "-$pgid" 2>/dev/null || true
}

on_exit() {
    local status=$?
    stop_server
    if ((status != 0)); then
        echo "--- last 40 lines of the server's log ($SERVER_LOG) ---" >&2
        tail -n 40 "$SERVER_LOG" >&2 || true
    else
        rm -f "$SERVER_LOG"
    fi
}
trap on_exit EXIT

[[ -x "$PY" ]] || { echo "schemathesis: no $PY; run make venv first" >&2; exit 1; }

# --- 1. the tool ---------------------------------------------------------------------------------
if [[ ! -x "$TOOL_DIR/bin/st" ]]; then
    step "installing schemathesis $SCHEMATHESIS_VERSION into $TOOL_DIR"
    rm -rf "$TOOL_DIR"
    python3 -m venv "$TOOL_DIR"
    "$TOOL_DIR/bin/python" -m pip install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi
# Event dates the stations take (from three days, past their notice, to two months ahead), for the configuration's
# dictionary of them: they depend on today.
mkdir -p .ci-tools
"$PY" -c '
import datetime
today = datetime.date.today()
for days in range(3, 60):
    print(f"\"{today + datetime.timedelta(days=days)}\"")
' >.ci-tools/event-dates.dict
ST=("$TOOL_DIR/bin/st" --config-file .ci/schemathesis.toml run "$SCHEMA_URL"
    --checks all --max-examples "$MAX_EXAMPLES" --seed "$SEED"
    --request-timeout 30 --generation-database none --no-color)

# --- 2. the database -----------------------------------------------------------------------------
# The server's environment, and nothing else from this shell: no provider keys or URLs (a
# shell or .env holding a Stripe key would have the fuzzer create real PaymentIntents).
# Rate limits are lifted: the fuzzer sends thousands of requests from one address, and at the
# real limits nearly all would be a (documented) 429 with nothing behind the limiter tested.
# Tasks run inline: there is no worker, and nothing should pile up in the broker.
PASSWORD="$("$PY" -c 'import secrets; print(secrets.token_urlsafe(18))')"
SERVER_ENV=(
    env -i "PATH=$PATH" "HOME=${HOME:-/tmp}" LANG=C.UTF-8
    "DATABASE_URL=$DB_URL" "REDIS_URL=$REDIS_URL" READ_DOTENV=false
    DEBUG=false "SECRET_KEY=$("$PY" -c 'import secrets; print(secrets.token_hex(32))')"
    ALLOWED_HOSTS=127.0.0.1 STRIPE_WEBHOOK_SECRET=whsec_schemathesis
    "CACHE_KEY_PREFIX=schemathesis-$$-$RANDOM" CELERY_TASK_ALWAYS_EAGER=true
    THROTTLE_PUBLIC_RATE=100000/min THROTTLE_AUTH_RATE=100000/min
    THROTTLE_STAFF_RATE=100000/min THROTTLE_CONTACT_RATE=100000/min LOG_LEVEL=WARNING
)

step "a fresh database (${DB_URL##*/}), migrated and seeded"
"$PY" - "$DB_URL" <<'EOF'
import sys

import environ
import psycopg
from psycopg import sql

config = environ.Env.db_url_config(sys.argv[1])
params = {"host": config.get("HOST"), "port": config.get("PORT"), "user": config.get("USER"),
          "password": config.get("PASSWORD")}
with psycopg.connect(dbname="postgres", autocommit=True,
                     **{key: value for key, value in params.items() if value}) as connection:
    name = sql.Identifier(config["NAME"])
    connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
    connection.execute(sql.SQL("CREATE DATABASE {}").format(name))
EOF
"${SERVER_ENV[@]}" "$PY" manage.py migrate --verbosity 0
"${SERVER_ENV[@]}" "$PY" manage.py seed_demo --force --password "$PASSWORD" >/dev/null

# --- 3. the server -------------------------------------------------------------------------------
step "serving $BASE_URL (gunicorn, DEBUG off)"
if curl -s -o /dev/null --max-time 2 "$BASE_URL/"; then
    echo "schemathesis: something already answers on port $PORT; set SCHEMATHESIS_PORT" >&2
    exit 1
fi
# setsid: its own process group, stopped as a whole (see .ci/run's make run step).
"${SERVER_ENV[@]}" setsid .venv/bin/gunicorn config.wsgi --bind "127.0.0.1:$PORT" \
    --workers 2 --timeout 60 >"$SERVER_LOG" 2>&1 </dev/null &
SERVER_PGID=$!
for ((waited = 0; ; waited++)); do
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$BASE_URL/api/v1/health" || true)"
    [[ "$code" == "200" ]] && break
    if ((waited >= 60)) || ! kill -0 "$SERVER_PGID" 2>/dev/null; then
        echo "schemathesis: the server did not become healthy (last answer: $code)" >&2
        exit 1
    fi
    sleep 1
done

# --- 4. tokens -----------------------------------------------------------------------------------
token() {
    curl -s --fail --max-time 10 -X POST "$BASE_URL/api/v1/auth/token" \
        -H 'Content-Type: application/json' \
        -d "{\"username\": \"demo-owner\", \"password\": \"$PASSWORD\"}" |
        "$PY" -c 'import json, sys; print(json.load(sys.stdin)["token"])'
}

# --- 5. the runs ---------------------------------------------------------------------------------
step "anonymously, every operation"
"${ST[@]}"

STAFF_TOKEN="$(token)"
step "as a staff user (demo-owner), every operation but signing out and station settings"
"${ST[@]}" -H "Authorization: Token $STAFF_TOKEN" \
    --exclude-operation-id auth_token_destroy --exclude-operation-id staff_stations_partial_update

step "as a staff user, changing a station's settings"
"${ST[@]}" -H "Authorization: Token $STAFF_TOKEN" \
    --include-operation-id staff_stations_partial_update

step "signing out, with a token of its own"
"${ST[@]}" -H "Authorization: Token $(token)" --include-operation-id auth_token_destroy

step "no failures"
