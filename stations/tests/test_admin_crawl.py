"""
No admin page answers 500 (issue 12, point 9), and no screen shows or asks for cents (point 4).

The crawl logs in as each role with the Django test client and walks everything the admin
serves, derived from the admin itself rather than listed here, so a page added later is
crawled without anyone remembering to add it:
- every model of `admin.site._registry`: its list plain and with "Show counts" (`_facets`),
  every choice of every list filter (read from the rendered list's `cl.filter_specs`), with
  and without counts, searches with a word and with odd input, every sortable column both
  ways, the date drill-down, odd query strings; one object's change, history and delete pages,
  and the add page;
- every URL of `admin.site.get_urls()` and of each ModelAdmin's `get_urls()` that needs no
  argument or only an object id (an existing object's id is filled in), plain and with odd
  query strings (`date`, `view`, `station`, ...: the calendar's and any like it);
- the autocomplete view for every autocomplete field, with the same searches.
403, 404 and redirects are fine answers; a 5xx or an exception is a failure. Every failure of
a role is collected and reported together.

Seeded: bookings at both stations (pending, confirmed and paid, part refunded, cancelled),
their payments, refunds, notifications, Stripe ledger rows, time off, invitations, tokens.
"""

import os
import re
from contextlib import contextmanager
from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import urlencode

import pytest
from django.contrib import admin
from django.contrib.admin.templatetags.admin_list import date_hierarchy, result_headers
from django.contrib.admin.utils import quote
from django.contrib.contenttypes.models import ContentType
from django.db.models import Count
from django.template import Template
from django.test import Client
from django.test.utils import _TestState
from django.urls import NoReverseMatch, URLPattern, URLResolver, reverse
from django.utils import timezone

from bookings import services as booking_services
from bookings.models import Booking
from bookings.notifications import notify_customer
from conftest import PASSWORD
from inbox import services as inbox_services
from inbox.models import Channel, MessageTemplate
from payments import refunds
from payments.models import Payment, Refund, StripeEvent
from stations import services as station_services
from stations.models import Chef, Role
from testing.factories import CustomerFactory, PaymentFactory, TimeOffFactory, make_booking

pytestmark = [pytest.mark.django_db, pytest.mark.date_sensitive]

ROLES = [
    "superuser",
    "owner",
    "sj_manager",
    "sj_agent",
    "sj_chef",
    "sac_manager",
    "sac_agent",
    "sac_chef",
]
# On a moved clock (CI's TEST_CLOCK runs, ten of them) the walk is the widest reader of each
# kind, the owner of both stations and a chef: the other roles see subsets of the same pages,
# and walking all eight takes minutes per run. `make test` (the real clock) walks all eight.
CLOCK_ROLES = ["owner", "sj_chef"]
CRAWL_ROLES = CLOCK_ROLES if os.environ.get("TEST_CLOCK", "").strip() else ROLES
# The models the walk must find in the registry (a broken derivation would otherwise pass by
# crawling nothing).
CORE_MODELS = {
    "bookings.booking",
    "bookings.customer",
    "bookings.notification",
    "bookings.addon",
    "payments.payment",
    "payments.stripeevent",
    "stations.station",
    "stations.chef",
    "stations.timeoff",
    "stations.membership",
    "inbox.conversation",
    "inbox.channel",
    "inbox.messagetemplate",
    "leads.lead",
    "reviews.review",
    "reviews.reviewrequest",
    "reviews.googlelocation",
}
# Characters `str.isdigit()` accepts and `int()` refuses (a superscript two) or reads as a digit
# nobody typed (an Arabic-Indic one): a check with isdigit() alone lets them through.
UNICODE_DIGITS = ["\u00b2", "\u0661"]
SEARCHES = ["Garcia", "%'_\\", "Zoë Ñandú 東京 🍣 " + "x" * 3000, "a\x00b"]
# Query strings nothing should choke on, on every list.
ODD_LIST_PARAMS = [
    {"p": "99999", "o": "999.-.abc", "station": "-1"},
    {"_facets": "True", "station": "abc", "no_such_field": "1"},
    *(
        {"station": digit, "chef": digit, "p": digit, "o": digit, "when": digit, "money": digit}
        for digit in UNICODE_DIGITS
    ),
    *({"_facets": "True", "station": digit, "chef": digit} for digit in UNICODE_DIGITS),
]
# Query strings for the custom pages (calendar, board, agenda, ...): their usual parameters with
# values nobody should send.
ODD_PAGE_PARAMS = [
    {"date": "not-a-date", "week": "garbage", "month": "2026-99"},
    {"date": "0001-01-01", "view": "day"},
    {"date": "9999-12-31"},
    {"date": "9999-12-31", "view": "day", "station": "0"},
    {"date": "2026-02-30", "view": "week"},
    {"view": "day"},
    {"view": "<script>", "station": "abc"},
    {"station": "99999", "q": "%", "page": "abc"},
    {"station": "1.5", "chef": "abc", "p": "-1"},
    *(
        {
            "date": digit,
            "week": digit,
            "month": digit,
            "view": digit,
            "station": digit,
            "chef": digit,
            "q": digit,
            "page": digit,
            "p": digit,
            "from": digit,
        }
        for digit in UNICODE_DIGITS
    ),
    *({"date": f"2027-0{digit}-01", "from": f"2027-01-0{digit}"} for digit in UNICODE_DIGITS),
]
# Django's own pages that take no query parameters: crawled plain only.
PLAIN_PAGES = {"jsi18n", "login", "password_change", "password_change_done", "autocomplete"}
# Admin pages the crawl must not open: logging out ends the crawl's session.
SKIP_SITE_URLS = {"logout"}
OBJECT_ID_PARAMS = {"object_id", "pk", "id"}


# --- The world the crawl walks ---------------------------------------------------------------


@pytest.fixture
def crawl_world(san_jose, sacramento, sj_chef, sac_chef, sac_agent, sj_agent):
    """Rows on every admin list, at both stations."""
    from config.services import api_token_issue

    now = timezone.now()
    for station in (san_jose, sacramento):
        chef = Chef.objects.filter(station=station).order_by("pk").first()
        pending = make_booking(station, days=6, customer__name="Zoë Garcia")
        PaymentFactory(booking=pending)  # its deposit, awaiting payment
        paid = make_booking(station, days=8, status="confirmed", customer__phone="+14085550142")
        payment = PaymentFactory(booking=paid, paid=True)
        refunds.payment_refund(
            payment=payment,
            amount_cents=1_000,
            idempotency_key=f"crawl-{station.slug}",
            actor=booking_services.SYSTEM,
            reason="goodwill",
            check_role=False,
        )
        cancelled = make_booking(station, days=12, status="cancelled")
        make_booking(station, days=40, start="12:00", adults=20, addon_codes=["gyoza"])
        notify_customer(
            booking=paid, subject="See you soon", text="Hello", key=f"crawl-{station.slug}"
        )
        TimeOffFactory(chef=chef, starts_at=now + timedelta(days=60), reason="holiday")
        StripeEvent.objects.create(
            event_id=f"evt_crawl_{station.slug}",
            type="payment_intent.succeeded",
            payload={"id": f"evt_crawl_{station.slug}", "type": "payment_intent.succeeded"},
            station=station,
            outcome="failed",
            error="KeyError: 'data'",
            processed_at=now,
        )
        station_services.membership_invite(
            station=station,
            email=f"new@{station.slug}.example.com",
            role=Role.AGENT,
            invited_by=None,
        )
        CustomerFactory(station=station, name="O'Brien & Söhne", phone="+19165550111")
        crawl_inbox(station, number="+14085550142" if station.slug == "san-jose" else None)
        crawl_leads(station, paid)
        crawl_reviews(station, paid)
        assert cancelled.status == "cancelled"
    api_token_issue(user=sj_agent)
    api_token_issue(user=sac_agent)
    assert Refund.objects.count() == 2
    assert Payment.objects.filter(succeeded=True).count() == 2
    per_station = Booking.objects.values("station").annotate(n=Count("pk"))
    assert sorted(row["n"] for row in per_station) == [4, 4]
    return {"san-jose": san_jose, "sacramento": sacramento}


def crawl_inbox(station, *, number: str | None) -> None:
    """A channel (and a blacklisted RingCentral one), a canned reply, and a thread with an
    inbound message, a note, at each station."""
    prefix = "+1408555" if station.slug == "san-jose" else "+1916555"
    sms = Channel.objects.create(station=station, kind="sms_twilio", address=f"{prefix}0100")
    Channel.objects.create(
        station=station,
        kind="sms_ringcentral",
        address=f"{prefix}0101",
        subscription_state="Blacklisted",
        subscription_error="blacklisted after failed deliveries",
    )
    MessageTemplate.objects.create(station=station, kind="canned", name="Thanks", body="Thanks!")
    message = inbox_services.inbound_receive(
        channel=sms,
        sender=inbox_services.SenderInfo(external_id=number or f"{prefix}0177", name="Zoë"),
        provider_message_id=f"SMcrawl{station.slug}",
        body="Is June 6 free?",
    )
    inbox_services.note_add(conversation=message.conversation, author=None, body="call back")


def crawl_leads(station, booking) -> None:
    """Leads at the station (new with a follow-up, lost, won and linked to a booking) and one
    no station serves (the owners' unassigned queue)."""
    from leads import services as lead_services
    from leads.models import Lead

    def lead(name, phone, **fields):
        data = lead_services.LeadInput(name=name, phone=phone, **fields)
        return lead_services.lead_capture(data=data, station=station, first_reply=False)[0]

    prefix = "+1408555" if station.slug == "san-jose" else "+1916555"
    waiting = lead("Zoë Garcia", f"{prefix}0161", guests=12, zip_code="95112")
    lead_services.lead_set_follow_up(
        lead=waiting, at=timezone.now() + timedelta(days=1), actor=booking_services.SYSTEM
    )
    lost = lead("O'Brien & Söhne", f"{prefix}0162", email="obrien@example.com")
    lead_services.lead_set_status(
        lead=lost, status="lost", reason="Too expensive", actor=booking_services.SYSTEM
    )
    won = lead("Won Lead", f"{prefix}0163")
    Lead.objects.filter(pk=won.pk).update(status="won", converted_booking=booking)
    if station.slug == "san-jose":
        lead_services.lead_capture(
            data=lead_services.LeadInput(
                name="Nora Nowhere", phone=f"{prefix}0164", zip_code="10001"
            ),
            first_reply=False,
        )


def crawl_reviews(station, booking) -> None:
    """A Google review with a draft, a 2-star Yelp review waiting for a person, a Facebook
    reply to post by hand, a review request, and a Google location, at each station."""
    from reviews import services as review_services
    from reviews.models import GoogleLocation, ReviewRequest

    def review(platform, key, rating, text):
        made = review_services.review_upsert(
            station=station,
            platform=platform,
            external_id=f"crawl-{station.slug}-{key}",
            rating=rating,
            author="Zoë O'Brien",
            text=text,
            created_on_platform=timezone.now() - timedelta(days=2),
            prepare_reply=False,
        ).review
        review_services.review_reply_prepare(review_id=made.pk)
        return made

    review("google", "g", 4, "Great party, <b>thanks</b>!")
    review("yelp", "y", 2, "Late 🍣")
    manual = review("facebook", "f", 5, "Loved it")
    from django.contrib.auth import get_user_model

    admin_user = get_user_model().objects.get(username="admin")
    response = review_services.review_respond(review=manual, actor=admin_user)
    review_services.review_response_post(response_id=response.pk)
    ReviewRequest.objects.create(
        booking=booking, token_hash=f"{booking.pk:064d}", created_at=timezone.now()
    )
    GoogleLocation.objects.create(
        station=station, location_name=f"accounts/1/locations/{station.pk}", place_id="ChIJx"
    )


# --- The crawler -------------------------------------------------------------------------------


@contextmanager
def _instrumented(keep: bool):
    if keep:
        yield
        return
    instrumented = Template._render
    Template._render = _TestState.saved_data.template_render
    try:
        yield
    finally:
        Template._render = instrumented


class Crawler:
    """GETs pages as one user and records every 5xx or exception (never raises)."""

    def __init__(self, client: Client):
        self.client = client
        self.failures: list[str] = []
        self.seen: set[str] = set()
        self.answers: dict[str, int] = {}

    def get(self, url: str, params: dict | None = None, *, context: bool = False):
        """GET the page; with `context`, the response keeps its template context (the test
        client's instrumented rendering, slow on admin pages: only asked for when read)."""
        if params:
            url = f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"
        if url in self.seen:
            return None
        self.seen.add(url)
        try:
            with _instrumented(context):
                response = self.client.get(url)
        except Exception as exc:  # the test client re-raises what the view raised
            self.failures.append(f"GET {url[:300]} raised {type(exc).__name__}: {exc}"[:600])
            return None
        self.answers[url] = response.status_code
        if response.status_code >= 500:
            self.failures.append(f"GET {url[:300]} answered {response.status_code}")
        return response


def label_of(model) -> str:
    return model._meta.label_lower


def registered() -> dict[str, admin.ModelAdmin]:
    return {label_of(model): model_admin for model, model_admin in admin.site._registry.items()}


def pattern_params(pattern: URLPattern) -> set[str]:
    """The names of the arguments a URL pattern needs."""
    converters = getattr(pattern.pattern, "converters", None)
    if converters:
        return set(converters)
    regex = getattr(pattern.pattern, "regex", None)
    return set(regex.groupindex) if regex is not None else set()


def crawl_list(crawler: Crawler, model_admin: admin.ModelAdmin) -> list:
    """Walk a model's list every way the page offers; the objects it showed."""
    opts = model_admin.model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    response = crawler.get(url, context=True)
    if response is None or response.status_code != 200:
        return []
    cl = response.context["cl"]
    objects = list(cl.result_list[:1])
    crawler.get(url, {"_facets": "True"})
    for spec in cl.filter_specs:
        for choice in spec.choices(cl):
            query = choice["query_string"]
            crawler.get(url + query)
            crawler.get(url + query, {"_facets": "True"})
    if cl.search_fields:
        for term in SEARCHES:
            crawler.get(url, {"q": term})
    for index, header in enumerate(result_headers(cl)):
        if header["sortable"]:
            crawler.get(url, {"o": str(index)})
            crawler.get(url, {"o": f"-{index}"})
    if cl.date_hierarchy:
        crawl_date_hierarchy(crawler, url, cl)
    for params in ODD_LIST_PARAMS:
        crawler.get(url, params)
    return objects


def crawl_date_hierarchy(crawler: Crawler, url: str, cl) -> None:
    field = cl.date_hierarchy
    for _level in range(3):  # years, months, days
        hierarchy = date_hierarchy(cl) or {}
        if hierarchy.get("back"):
            crawler.get(url + hierarchy["back"]["link"])
        links = [choice["link"] for choice in hierarchy.get("choices", []) if "link" in choice]
        if not links:  # the last level (one day) links nowhere
            break
        response = crawler.get(url + links[0], context=True)
        if response is None or response.status_code != 200:
            break
        cl = response.context["cl"]
    year = str(timezone.now().year)
    for params in [
        {f"{field}__year": "abc", f"{field}__day": "1"},
        {f"{field}__year": "99999"},
        {f"{field}__year": year, f"{field}__month": "2", f"{field}__day": "30"},
        *({f"{field}__year": digit, f"{field}__month": digit} for digit in UNICODE_DIGITS),
    ]:
        crawler.get(url, params)


def crawl_model_urls(crawler: Crawler, model_admin, obj) -> list[str]:
    """Every named URL of the ModelAdmin that needs nothing or one argument (an object's id,
    whatever the pattern calls it: the shown object's is filled in); the custom ones (not
    Django's own) also with odd query strings, and with the id of no object. Returns the
    names of those it could not fill in."""
    skipped = []
    standard = {"changelist", "add", "history", "delete", "change", "password_change"}
    skip = {"delete"}  # a confirmation page; the crawl asks for change, history and add
    opts = model_admin.model._meta
    prefix = f"{opts.app_label}_{opts.model_name}_"
    for pattern in model_admin.get_urls():
        if not isinstance(pattern, URLPattern) or not pattern.name:
            continue
        own = pattern.name.removeprefix(prefix)
        params = pattern_params(pattern)
        if own in skip or (params and obj is None):
            continue
        if len(params) > 1:
            skipped.append(pattern.name)
            continue
        object_id = quote(obj.pk) if obj is not None else ""
        try:
            url = reverse(f"admin:{pattern.name}", kwargs=dict.fromkeys(params, object_id))
            missing = reverse(f"admin:{pattern.name}", kwargs=dict.fromkeys(params, "999999"))
        except NoReverseMatch:  # the pattern takes another kind of argument than this id
            skipped.append(pattern.name)
            continue
        crawler.get(url)
        if own not in standard:
            for odd in ODD_PAGE_PARAMS:
                crawler.get(url, odd)
            if params:
                crawler.get(missing)
    return skipped


def crawl_site_urls(crawler: Crawler, objects: dict) -> list[str]:
    """The admin site's own pages (index, app indexes, password change, view on site, any
    custom page added to the site), plain and with odd query strings."""
    skipped = []
    booking = objects.get("bookings.booking")
    for pattern in admin.site.get_urls():
        if isinstance(pattern, URLResolver) or not pattern.name:
            continue  # the ModelAdmins' own URLs are walked model by model
        if pattern.name in SKIP_SITE_URLS:
            continue
        params = pattern_params(pattern)
        if not params:
            url = reverse(f"admin:{pattern.name}")
            crawler.get(url)
            if pattern.name not in PLAIN_PAGES:
                for odd in ODD_PAGE_PARAMS:
                    crawler.get(url, odd)
        elif params == {"app_label"}:
            for app_label in sorted({m._meta.app_label for m in admin.site._registry}):
                crawler.get(reverse(f"admin:{pattern.name}", kwargs={"app_label": app_label}))
        elif params == {"content_type_id", "object_id"} and booking is not None:
            content_type = ContentType.objects.get_for_model(Booking)
            kwargs = {"content_type_id": content_type.pk, "object_id": booking.pk}
            crawler.get(reverse(f"admin:{pattern.name}", kwargs=kwargs))
        elif params <= OBJECT_ID_PARAMS and booking is not None:
            url = reverse(f"admin:{pattern.name}", kwargs=dict.fromkeys(params, booking.pk))
            crawler.get(url)
        else:
            skipped.append(pattern.name)
    return skipped


def crawl_autocomplete(crawler: Crawler) -> None:
    url = reverse("admin:autocomplete")
    crawler.get(url)
    for model, model_admin in admin.site._registry.items():
        for field_name in model_admin.autocomplete_fields:
            base = {
                "app_label": model._meta.app_label,
                "model_name": model._meta.model_name,
                "field_name": field_name,
            }
            for term in SEARCHES:
                crawler.get(url, {**base, "term": term})
            crawler.get(url, {**base, "term": "a", "page": "abc"})
            for digit in UNICODE_DIGITS:
                crawler.get(url, {**base, "term": digit, "page": digit})


def crawl(client: Client) -> Crawler:
    crawler = Crawler(client)
    objects = {}
    for label, model_admin in sorted(registered().items()):
        shown = crawl_list(crawler, model_admin)
        obj = shown[0] if shown else model_admin.model._default_manager.order_by("pk").first()
        if obj is not None:
            objects[label] = obj
        crawl_model_urls(crawler, model_admin, obj)
    crawl_site_urls(crawler, objects)
    crawl_autocomplete(crawler)
    crawler.objects = objects
    return crawler


def logged_in(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD), user.username
    return client


# --- The tests ---------------------------------------------------------------------------------


def test_the_crawl_derives_the_admin_it_walks():
    """The registry holds the core models and their URLs resolve (the walk can't crawl
    nothing), and the URL walk finds the calendar, a custom page."""
    models = registered()
    assert set(models) >= CORE_MODELS, sorted(CORE_MODELS - set(models))
    names = {p.name for a in models.values() for p in a.get_urls() if isinstance(p, URLPattern)}
    assert "bookings_booking_calendar" in names
    assert {"index", "app_list", "autocomplete"} <= {
        p.name for p in admin.site.get_urls() if isinstance(p, URLPattern)
    }


@pytest.mark.parametrize("role", CRAWL_ROLES)
def test_no_admin_page_answers_500(role, request, crawl_world, monkeypatch):
    # The sidebar repeats the index's app list on every page (the index itself is crawled):
    # left out, the crawl takes a third less time.
    monkeypatch.setattr(admin.site, "enable_nav_sidebar", False)
    user = request.getfixturevalue(role)
    crawler = crawl(logged_in(user))

    assert not crawler.failures, f"{len(crawler.failures)} failures as {role}:\n" + "\n".join(
        crawler.failures
    )
    # The walk really walked: the lists it may see were shown with rows, filters and sorting.
    assert len(crawler.seen) > 150, len(crawler.seen)
    booking_list = reverse("admin:bookings_booking_changelist")
    assert crawler.answers[booking_list] == 200
    assert "bookings.booking" in crawler.objects
    assert crawler.answers[reverse("admin:bookings_booking_calendar")] == 200
    if role in {"superuser", "owner", "sj_manager", "sac_manager"}:
        for label in ["payments.payment", "stations.chef", "stations.timeoff"]:
            app, model = label.split(".")
            assert crawler.answers[reverse(f"admin:{app}_{model}_changelist")] == 200, label
        assert any("_facets=True&station=" in url or "station=" in url for url in crawler.seen)


@pytest.mark.parametrize("role", ["superuser", "owner", "sj_manager"])
def test_show_counts_with_the_station_filter_counts_each_station(role, request, crawl_world):
    """`?_facets=True` on a list with the station filter (it crashed: the facet counts pass the
    lookup value, an int, to the filter's queryset), and the count beside each station is the
    number of rows the list shows when that station is chosen: that station's rows."""
    user = request.getfixturevalue(role)
    client = logged_in(user)
    url = reverse("admin:bookings_booking_changelist")
    response = client.get(url, {"_facets": "True"})
    assert response.status_code == 200
    cl = response.context["cl"]
    spec = next(s for s in cl.filter_specs if s.parameter_name == "station")
    counted = {}
    for choice in spec.choices(cl):
        found = re.fullmatch(r"(.+) \((\d+)\)", str(choice["display"]))
        if choice["display"] != "All":
            assert found, choice["display"]  # a count, not "(-)"
            counted[found[1]] = int(found[2])
    expected_stations = ["San Jose"] if role == "sj_manager" else ["Sacramento", "San Jose"]
    assert sorted(counted) == expected_stations
    for station in crawl_world.values():
        if station.name not in counted:
            continue
        chosen = client.get(url, {"_facets": "True", "station": str(station.pk)})
        assert chosen.status_code == 200
        listed = chosen.context["cl"]
        assert listed.result_count == counted[station.name] > 0
        assert {b.station_id for b in listed.result_list} == {station.pk}
        own_rows = Booking.objects.filter(station=station)
        assert counted[station.name] <= own_rows.count()


def test_the_station_filter_counts_for_a_value_given_as_an_int_or_a_string(owner, crawl_world):
    """The filter's queryset is called with the lookup value as the facet counts give it (an
    int) and as a query string gives it (a string), and filters the same way."""
    from django.test import RequestFactory

    from stations.admin_base import StationListFilter

    model_admin = admin.site._registry[Booking]
    request = RequestFactory().get("/")
    request.user = owner
    for station in crawl_world.values():
        for value in (station.pk, str(station.pk)):
            spec = StationListFilter(request, {"station": [value]}, Booking, model_admin)
            rows = spec.queryset(request, Booking.objects.all())
            assert set(rows.values_list("station_id", flat=True)) == {station.pk}
    spec = StationListFilter(request, {"station": ["abc"]}, Booking, model_admin)
    assert spec.queryset(request, Booking.objects.all()).count() == Booking.objects.count()


# --- No screen shows or asks for cents (issue 12, point 4) -----------------------------------


class _Labels(HTMLParser):
    """The texts a person reads as a label, a column header or a fieldset title, and the
    inputs with their values."""

    WATCHED = {"label", "th", "h2", "legend", "summary"}

    def __init__(self):
        super().__init__()
        self.stack: list[list] = []
        self.texts: list[tuple[str, str]] = []
        self.inputs: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "input" and attrs.get("type") not in {"checkbox", "radio", "submit"}:
            self.inputs.append((attrs.get("name") or "", attrs.get("value") or ""))
        if tag in self.WATCHED:
            self.stack.append([tag, ""])

    def handle_endtag(self, tag):
        if self.stack and self.stack[-1][0] == tag:
            name, text = self.stack.pop()
            self.texts.append((name, " ".join(text.split())))

    def handle_data(self, data):
        for open_tag in self.stack:
            open_tag[1] += data


def cents_offenders(url: str, html: str) -> list[str]:
    parser = _Labels()
    parser.feed(html)
    found = [
        f"{url}: <{tag}> {text!r}" for tag, text in parser.texts if re.search(r"cents", text, re.I)
    ]
    found += [
        f"{url}: input {name}={value!r}"
        for name, value in parser.inputs
        if re.search(r"_cents$", name) and re.fullmatch(r"-?\d+", value.strip())
    ]
    return found


def test_the_cents_check_can_fail():
    html = (
        '<fieldset><h2 class="fieldset-heading">Totals (cents)</h2>'
        '<label for="id_price_cents">Price cents:</label>'
        '<input type="text" name="price_cents" value="6500">'
        '<input type="text" name="form-0-fee_cents" value="65.00"></fieldset>'
        "<table><thead><tr><th>Total cents</th><th>Guests</th></tr></thead></table>"
    )
    assert cents_offenders("/x/", html) == [
        "/x/: <h2> 'Totals (cents)'",
        "/x/: <label> 'Price cents:'",
        "/x/: <th> 'Total cents'",
        "/x/: input price_cents='6500'",
    ]


@pytest.mark.parametrize("role", ["owner", "sj_manager"])
def test_no_admin_screen_shows_or_asks_for_cents(role, request, crawl_world):
    user = request.getfixturevalue(role)
    client = logged_in(user)
    offenders = []
    for _label, model_admin in sorted(registered().items()):
        opts = model_admin.model._meta
        changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        response = client.get(changelist)
        if response.status_code != 200:
            continue
        pages = [changelist, reverse(f"admin:{opts.app_label}_{opts.model_name}_add")]
        shown = list(response.context["cl"].result_list[:1])
        if shown:
            args = [quote(shown[0].pk)]
            pages.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=args))
        for url in pages:
            page = client.get(url)
            if page.status_code == 200:
                offenders += cents_offenders(url, page.content.decode())
    assert not offenders, f"{len(offenders)} places say cents:\n" + "\n".join(offenders)


def test_the_crawl_reports_a_page_that_breaks(superuser, crawl_world, monkeypatch):
    """The crawl can fail: a custom page (the calendar) that raises, and a list whose station
    filter raises on its counts, are reported, with the URL, and the walk goes on."""
    from bookings import calendar

    def broken(*args, **kwargs):
        raise ZeroDivisionError("calendar broke")

    def broken_counts(self, request, queryset):
        if self.used_parameters.get(self.parameter_name) is not None:
            return queryset.filter(pk__in=[int(str(self.value()).isdigit() and "x")])
        return queryset

    from stations.admin_base import StationListFilter

    monkeypatch.setattr(calendar, "month_grid", broken)
    monkeypatch.setattr(StationListFilter, "queryset", broken_counts)
    crawler = Crawler(logged_in(superuser))
    booking_admin = admin.site._registry[Booking]
    shown = crawl_list(crawler, booking_admin)
    crawl_model_urls(crawler, booking_admin, shown[0])
    calendar_url = reverse("admin:bookings_booking_calendar")
    assert any(
        f.startswith(f"GET {calendar_url} raised ZeroDivisionError") for f in crawler.failures
    )
    assert any("_facets=True" in f and "ValueError" in f for f in crawler.failures)
    assert crawler.answers[reverse("admin:bookings_booking_changelist")] == 200
