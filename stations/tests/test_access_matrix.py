"""
The access matrix (DESIGN.md §3): every registered model admin and every staff API viewset, each
of their operations, for each role at its own station and at another station.

Nothing here lists the admins or the endpoints: they are read from `admin.site._registry` and
from the URL resolver (every DRF view under /api/v1/staff/ and every StationScopedViewSet). What
each role may do is the EXPECTED tables below, keyed by model and kind of permission. A model
admin or a viewset without a rule, an admin action or an API action without one, or a model
without a builder, fails `test_every_*_has_rules`: whoever adds one decides who may use it.

Rules that hold for every row of the tables:
- a user with no membership may do nothing (superusers may do what the table gives them);
- another station's object is not found: in the admin it is not listed, its pages redirect as
  "doesn't exist" (or 403 when the user may not see the model at all), actions never reach it;
  in the API it is 404, never 403;
- foreign-key choices (and autocomplete results) offer only the user's own station's rows.
"""

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.forms import ModelChoiceField
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from rest_framework.test import APIClient

from bookings.models import AddOn, Booking
from inbox.models import Channel, MessageTemplate
from payments.models import StripeEvent
from stations import services as station_services
from stations import tenancy
from stations.api import StationScopedViewSet
from stations.models import Chef, Role
from testing.admin import form_data
from testing.factories import (
    MembershipFactory,
    PaymentFactory,
    TimeOffFactory,
    UserFactory,
    make_booking,
)

pytestmark = pytest.mark.django_db

PERSONAS = ("owner", "manager", "agent", "chef", "none", "superuser")
ALL = frozenset({"owner", "manager", "agent", "chef", "superuser"})
WRITERS = ALL - {"chef"}
MANAGERS = frozenset({"owner", "manager", "superuser"})
OWNERS = frozenset({"owner", "superuser"})
SUPERUSERS = frozenset({"superuser"})
NOBODY = frozenset()

# --- Who may do what at their own station -------------------------------------------------------
# Admin kinds: view, add, change, delete, and each action by name ("delete_selected" follows
# "delete" unless named). "*" is the model's default for add, change and delete; actions other
# than delete_selected must be named.

ADMIN_EXPECTED: dict[str, dict[str, frozenset]] = {
    "stations.station": {
        "view": ALL,
        "add": SUPERUSERS,  # new territories are set up centrally
        "change": OWNERS,  # settings
        "delete": SUPERUSERS,
        "rotate_calendar_link": OWNERS,
    },
    "stations.membership": {"view": ALL, "*": OWNERS},
    "stations.invitation": {"view": OWNERS, "add": NOBODY, "change": NOBODY, "delete": OWNERS},
    "stations.chef": {"view": ALL, "*": MANAGERS, "rotate_calendar_link": MANAGERS},
    "stations.timeoff": {"view": ALL, "*": MANAGERS},
    "bookings.pricelist": {"view": ALL, "*": MANAGERS},
    "bookings.addon": {"view": ALL, "*": MANAGERS},
    "bookings.customer": {  # chefs: their events, not customers
        "view": WRITERS,
        "*": WRITERS,
        "merge_customers": WRITERS,
    },
    "bookings.booking": {
        "view": ALL,  # the chef's own assigned event (see VARIANT_EXPECTED for the others)
        "add": NOBODY,  # through the booking flow
        "change": WRITERS,
        "delete": NOBODY,  # cancel instead
        "confirm_selected": WRITERS,
        "cancel_selected": WRITERS,
        "reassign_selected": WRITERS,
        "request_balance": WRITERS,
        "apply_submitted_contact": WRITERS,
    },
    # The outbox: read-only; customer messages are not for chefs.
    "bookings.notification": {"view": WRITERS, "add": NOBODY, "change": NOBODY, "delete": NOBODY},
    "payments.payment": {
        "view": WRITERS,  # chefs see no money
        "add": NOBODY,
        "change": MANAGERS,
        "delete": NOBODY,
        "refund_selected": MANAGERS,  # agents: no refunds
    },
    "payments.stripeevent": {
        "view": WRITERS,  # the same as payments: the payload is payment data
        "add": NOBODY,
        "change": NOBODY,
        "delete": NOBODY,
        "reprocess": MANAGERS,
    },
    # The inbox: chefs don't answer customers; provider credentials are the owners'.
    "inbox.conversation": {"view": WRITERS, "add": NOBODY, "change": WRITERS, "delete": NOBODY},
    "inbox.channel": {"view": WRITERS, "*": OWNERS},
    "inbox.messagetemplate": {"view": WRITERS, "*": MANAGERS},
    # The AI's drafts and its audit trail: read only (drafts are decided on the conversation
    # page and through the API).
    "inbox.draft": {"view": WRITERS, "*": NOBODY},
    "inbox.aiinteraction": {"view": WRITERS, "*": NOBODY},
    # Reviews: staff read them; managers decide replies (DESIGN.md §3); requests are read only;
    # the Google location holds credentials: owners.
    "reviews.review": {
        "view": WRITERS,
        "add": NOBODY,
        "change": MANAGERS,
        "delete": NOBODY,
        "approve_drafts": MANAGERS,
        "reject_drafts": MANAGERS,
        "post_again": MANAGERS,
    },
    "reviews.reviewrequest": {"view": WRITERS, "*": NOBODY},
    "reviews.googlelocation": {"view": WRITERS, "*": OWNERS},
    # The users of the whole site: superusers only.
    "auth.user": {"view": SUPERUSERS, "*": SUPERUSERS},
    "auth.group": {"view": SUPERUSERS, "*": SUPERUSERS},
    # Staff API tokens: owners see (and revoke) those of their stations' members.
    "config.apitoken": {
        "view": OWNERS,
        "add": NOBODY,
        "change": NOBODY,
        "delete": NOBODY,
        "revoke": OWNERS,
    },
    # Leads: agents, managers and owners work the pipeline; chefs have none; owners route the
    # unassigned queue.
    "leads.lead": {
        "view": WRITERS,
        "add": WRITERS,
        "change": WRITERS,
        "delete": NOBODY,
        "assign_to_me": WRITERS,
        "mark_contacted": WRITERS,
        "mark_lost": WRITERS,
        "route_to_station": OWNERS,
        "convert_to_booking": WRITERS,
    },
}

# API kinds: "read" (list and retrieve) and each write action by name.
API_EXPECTED: dict[str, dict[str, frozenset]] = {
    "stations.station": {"read": ALL, "update": OWNERS, "partial_update": OWNERS},
    "bookings.booking": {
        "read": ALL,  # the chef's own assigned event
        "create": WRITERS,
        "confirm": WRITERS,
        "cancel": WRITERS,
        "complete": WRITERS,
        "no_show": WRITERS,
        "request_balance": WRITERS,
        "reassign": WRITERS,
        "reschedule": WRITERS,
    },
    "bookings.customer": {"read": WRITERS, "update": WRITERS, "partial_update": WRITERS},
    "payments.payment": {"read": WRITERS, "refund": MANAGERS},
    "inbox.conversation": {
        "read": WRITERS,
        "messages": WRITERS,
        "reply": WRITERS,
        "notes": WRITERS,
        "assign": WRITERS,
        "snooze": WRITERS,
        "close": WRITERS,
        "reopen": WRITERS,
        "mark_read": WRITERS,
        "merge_customers": WRITERS,
    },
    # DESIGN.md §3: managers approve AI drafts; agents read them.
    "inbox.draft": {
        "read": WRITERS,
        "approve": MANAGERS,
        "edit_and_send": MANAGERS,
        "reject": MANAGERS,
    },
    # Leads: agents, managers and owners work them; chefs have none.
    "leads.lead": {
        "read": WRITERS,
        "partial_update": WRITERS,
        "set_status": WRITERS,
        "assign": WRITERS,
        "activities": WRITERS,
        "follow_up": WRITERS,
        "convert": WRITERS,
        "route": OWNERS,  # the unassigned queue is the owners'
        "metrics": WRITERS,
    },
    # Reviews: agents read them, managers and owners respond.
    "reviews.review": {"read": WRITERS, "respond": MANAGERS},
}

# Admins whose change view is a page of its own, not a model form (the conversation page: its
# actions are POSTs to their own URLs, checked per role in inbox/tests/test_admin_inbox.py).
OWN_PAGES = {"inbox.conversation"}

# Further objects at the own station, with who may see them.
VARIANT_EXPECTED = {
    ("bookings.booking", "own_unassigned"): WRITERS,  # a chef sees only their own events
}


class MissingRule(LookupError):
    pass


def admin_rule(label: str, kind: str) -> frozenset:
    entry = ADMIN_EXPECTED.get(label)
    if entry is None:
        raise MissingRule(f"admin of {label}: no entry in ADMIN_EXPECTED")
    if kind in entry:
        return entry[kind]
    if kind == "delete_selected":
        return admin_rule(label, "delete")
    if kind in ("add", "change", "delete") and "*" in entry:
        return entry["*"]
    raise MissingRule(f"admin of {label}: no rule for {kind!r}")


def api_rule(label: str, kind: str) -> frozenset:
    entry = API_EXPECTED.get(label)
    if entry is None or kind not in entry:
        raise MissingRule(f"staff API of {label}: no rule for {kind!r} in API_EXPECTED")
    return entry[kind]


# --- Objects: one at the own station (san-jose), one at the other (sacramento) ------------------


class World:
    def __init__(self, san_jose, sacramento, sj_chef):
        self.own, self.other = san_jose, sacramento
        self.kenji = Chef.objects.get(user=sj_chef)
        self._bookings = 0

    def booking(self, station, chef=None) -> Booking:
        self._bookings += 1
        return make_booking(station, days=9 + self._bookings, chef=chef)


def _bookings(w: World) -> dict:
    unassigned_chef = Chef.objects.filter(station=w.own).exclude(pk=w.kenji.pk).first()
    return {
        "own": w.booking(w.own, chef=w.kenji),
        "own_unassigned": w.booking(w.own, chef=unassigned_chef),
        "other": w.booking(w.other),
    }


def _payments(w: World) -> dict:
    return {
        "own": PaymentFactory(booking=w.booking(w.own, chef=w.kenji)),
        "other": PaymentFactory(booking=w.booking(w.other)),
    }


def _stripe_events(w: World) -> dict:
    def row(station):
        return StripeEvent.objects.create(
            event_id=f"evt_matrix_{station.slug}",
            type="payment_intent.succeeded",
            payload={"id": f"evt_matrix_{station.slug}", "type": "payment_intent.succeeded"},
            station=station,
            outcome="processed",
        )

    return {"own": row(w.own), "other": row(w.other)}


def _invitations(w: World) -> dict:
    def invite(station):
        return station_services.membership_invite(
            station=station,
            email=f"invitee@{station.slug}.example.com",
            role="agent",
            invited_by=None,
        )

    return {"own": invite(w.own), "other": invite(w.other)}


def _tokens(w: World) -> dict:
    from config.models import ApiToken
    from config.services import api_token_issue

    def token_of_a_member(station):
        token, _ = api_token_issue(user=MembershipFactory(station=station, role=Role.AGENT).user)
        return ApiToken.objects.get(pk=token.pk)

    return {"own": token_of_a_member(w.own), "other": token_of_a_member(w.other)}


def _message_to(booking):
    from bookings.models import Notification
    from bookings.notifications import notify_customer

    notify_customer(booking=booking, subject="Matrix", text="Hello", key=f"matrix-{booking.pk}")
    return Notification.objects.get(key=f"matrix-{booking.pk}")


def _conversation(station):
    from inbox.services import conversation_for
    from testing.factories import CustomerFactory

    return conversation_for(CustomerFactory(station=station))


def _draft(station):
    from inbox.models import Draft, Message

    conversation = _conversation(station)
    message = Message.objects.create(
        conversation=conversation,
        direction="in",
        sender="customer",
        body="How much for 10?",
        status="received",
        created_at=timezone.now(),
    )
    return Draft.objects.create(
        station=station,
        conversation=conversation,
        message=message,
        level="l2",
        intent="price",
        confidence=90,
        body="It is $60.00 a person.",
        status="proposed",
        created_at=timezone.now(),
    )


def _ai_interaction(station):
    from inbox.models import AIInteraction

    return AIInteraction.objects.create(
        station=station,
        purpose="classify",
        model="local-drafter",
        prompt="How much for 10?",
        outcome="ok",
        created_at=timezone.now(),
    )


def _lead(station):
    from leads.models import Lead

    return Lead.objects.create(
        station=station, name="Matrix Lead", phone=f"+1916555{station.pk:04d}", guests=10
    )


def _review(station):
    from reviews import services as review_services

    review = review_services.review_upsert(
        station=station,
        platform="google",
        external_id=f"matrix-{station.slug}",
        rating=4,
        author="Matrix Reviewer",
        text="Good party",
        created_on_platform=timezone.now(),
        prepare_reply=False,
    ).review
    review_services.review_reply_prepare(review_id=review.pk)  # an L2 draft
    review.refresh_from_db()
    return review


def _review_request(w: World, station):
    from reviews.models import ReviewRequest

    return ReviewRequest.objects.create(
        booking=w.booking(station), token_hash=f"{station.pk:064d}", created_at=timezone.now()
    )


def _google_location(station):
    from reviews.models import GoogleLocation

    return GoogleLocation.objects.create(
        station=station, location_name=f"accounts/1/locations/{station.pk}"
    )


def _per_station(build: Callable) -> Callable:
    return lambda w: {"own": build(w.own), "other": build(w.other)}


BUILDERS: dict[str, Callable[[World], dict]] = {
    "stations.station": lambda w: {"own": w.own, "other": w.other},
    "stations.membership": _per_station(lambda s: MembershipFactory(station=s, role=Role.CHEF)),
    "stations.invitation": _invitations,
    "stations.chef": _per_station(lambda s: Chef.objects.filter(station=s).first()),
    "stations.timeoff": _per_station(
        lambda s: TimeOffFactory(
            chef=Chef.objects.filter(station=s).first(),
            starts_at=timezone.now().replace(second=0, microsecond=0) + timedelta(days=60),
        )
    ),
    "bookings.pricelist": _per_station(lambda s: s.price_list),
    "bookings.addon": _per_station(lambda s: AddOn.objects.filter(station=s).first()),
    "bookings.customer": lambda w: {
        "own": w.booking(w.own).customer,
        "other": w.booking(w.other).customer,
    },
    "bookings.booking": _bookings,
    "bookings.notification": lambda w: {
        "own": _message_to(w.booking(w.own)),
        "other": _message_to(w.booking(w.other)),
    },
    "payments.payment": _payments,
    "payments.stripeevent": _stripe_events,
    "auth.user": lambda w: {"own": UserFactory(), "other": None},
    "auth.group": lambda w: {"own": Group.objects.create(name="matrix"), "other": None},
    "config.apitoken": _tokens,
    "inbox.conversation": lambda w: {"own": _conversation(w.own), "other": _conversation(w.other)},
    "inbox.channel": _per_station(
        lambda s: Channel.objects.create(
            station=s, kind="sms_twilio", address=f"+1916555{s.pk:04d}"
        )
    ),
    "inbox.messagetemplate": _per_station(
        lambda s: MessageTemplate.objects.create(station=s, kind="canned", name="Hi", body="Hi!")
    ),
    "inbox.draft": _per_station(_draft),
    "inbox.aiinteraction": _per_station(_ai_interaction),
    "leads.lead": _per_station(_lead),
    "reviews.review": _per_station(_review),
    "reviews.reviewrequest": lambda w: {
        "own": _review_request(w, w.own),
        "other": _review_request(w, w.other),
    },
    "reviews.googlelocation": _per_station(_google_location),
}


@pytest.fixture
def world_objects(san_jose, sacramento, sj_chef):
    w = World(san_jose, sacramento, sj_chef)
    cache: dict[str, dict] = {}

    def objects(label: str) -> dict:
        if label not in cache:
            cache[label] = BUILDERS[label](w)
        return cache[label]

    objects.world = w
    return objects


@dataclass
class Persona:
    name: str
    user: object
    own: str | None  # the role at san-jose ("own station")
    other: str | None = None  # the role at sacramento ("other station"), usually none

    def may(self, rule: frozenset, where: str = "own") -> bool:
        if self.name == "superuser":
            return "superuser" in rule
        role = self.own if where == "own" else self.other
        return role is not None and role in rule

    def offered_stations(self, rule: frozenset, world) -> set:
        """The stations whose rows a form that `rule` governs may offer this persona."""
        return {
            s.pk
            for s, where in ((world.own, "own"), (world.other, "other"))
            if self.may(rule, where)
        }


@pytest.fixture
def personas(san_jose, sacramento, sj_manager, sj_agent, sj_chef, superuser) -> list[Persona]:
    """Each role at san-jose only; an agent at san-jose who manages sacramento (roles differ by
    station: every check must be per station); a staff user with no membership; a superuser."""
    mixed = UserFactory()
    MembershipFactory(user=mixed, station=san_jose, role=Role.AGENT)
    MembershipFactory(user=mixed, station=sacramento, role=Role.MANAGER)
    return [
        Persona("owner", MembershipFactory(station=san_jose, role=Role.OWNER).user, "owner"),
        Persona("manager", sj_manager, "manager"),
        Persona("agent", sj_agent, "agent"),
        Persona("chef", sj_chef, "chef"),
        Persona("agent+manager elsewhere", mixed, "agent", "manager"),
        Persona("none", UserFactory(), None),
        Persona("superuser", superuser, "superuser", "superuser"),
    ]


# --- What the site offers (derived, never listed) ----------------------------------------------


def registered_admins() -> dict[str, admin.ModelAdmin]:
    return {model._meta.label_lower: ma for model, ma in admin.site._registry.items()}


def admin_action_names(model_admin) -> list[str]:
    names = [a if isinstance(a, str) else a.__name__ for a in (model_admin.actions or [])]
    if model_admin.actions is not None:
        names += [name for name, _ in model_admin.admin_site.actions if name not in names]
    return names


def _walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern


def staff_routes() -> dict[type, list[URLPattern]]:
    """Every DRF viewset route of the staff API (under /api/v1/staff/, or built on the staff
    base), by viewset class."""
    found: dict[type, list[URLPattern]] = {}
    for path, pattern in _walk(get_resolver().url_patterns):
        cls = getattr(pattern.callback, "cls", None)
        if cls is None or getattr(pattern.callback, "actions", None) is None:
            continue
        if "staff/" in path or issubclass(cls, StationScopedViewSet):
            found.setdefault(cls, []).append(pattern)
    return found


def viewset_label(cls) -> str:
    """The model a staff viewset serves: the key of its rules."""
    queryset = getattr(cls, "queryset", None)
    if queryset is None:
        raise MissingRule(f"{cls.__name__}: set `queryset` so the matrix knows its model")
    return queryset.model._meta.label_lower


def route_actions(cls, pattern) -> dict[str, str]:
    """{action: http method} of a route, for the methods the viewset answers."""
    allowed = {m.lower() for m in cls.http_method_names}
    return {a: m for m, a in pattern.callback.actions.items() if m in allowed}


STAFF_ROUTES = staff_routes()
ADMINS = registered_admins()


# --- Every admin and endpoint has rules -----------------------------------------------------------


@pytest.mark.parametrize("label", sorted(ADMINS))
def test_every_admin_has_rules_and_a_builder(label):
    model_admin = ADMINS[label]
    for kind in ("view", "add", "change", "delete", *admin_action_names(model_admin)):
        admin_rule(label, kind)  # raises MissingRule
    assert label in BUILDERS, f"admin of {label}: add a builder to BUILDERS"


@pytest.mark.parametrize(
    "cls", sorted(STAFF_ROUTES, key=lambda c: c.__name__), ids=lambda c: c.__name__
)
def test_every_staff_viewset_has_rules_and_a_builder(cls):
    label = viewset_label(cls)
    for pattern in STAFF_ROUTES[cls]:
        for action in route_actions(cls, pattern):
            if action not in ("list", "retrieve"):
                api_rule(label, action)
    api_rule(label, "read")
    assert label in BUILDERS, f"staff API of {label}: add a builder to BUILDERS"


def test_the_matrix_found_the_admins_and_endpoints_it_knows_of():
    """The derivation works (a broken walk would make the matrix pass by testing nothing)."""
    assert {"bookings.booking", "payments.payment", "stations.timeoff"} <= set(ADMINS)
    assert {"bookings.booking", "payments.payment"} <= {viewset_label(c) for c in STAFF_ROUTES}


# --- The admin ------------------------------------------------------------------------------------


def _choice_stations(response) -> set:
    """The stations of every row offered by a station-owned choice field of the page's form."""
    context = response.context
    form = context["adminform"].form if "adminform" in context else context.get("form")
    stations = set()
    for field in getattr(form, "fields", {}).values():
        if isinstance(field, ModelChoiceField) and tenancy.is_station_owned(field.queryset.model):
            stations |= tenancy.station_ids_in(field.queryset)
    return stations


class Recorder:
    """Stands in for an admin action: records the rows it was given, does nothing."""

    def __init__(self):
        self.seen: list = []

    def wrap(self, func):
        @functools.wraps(func)
        def record(modeladmin, request, queryset):
            self.seen.extend(queryset.values_list("pk", flat=True))

        return record


def _install_recorders(monkeypatch, model_admin, names) -> dict[str, Recorder]:
    recorders = {}
    for name in names:
        recorders[name] = recorder = Recorder()
        if name in dict(model_admin.admin_site.actions) and not hasattr(type(model_admin), name):
            monkeypatch.setitem(
                model_admin.admin_site._actions,
                name,
                recorder.wrap(model_admin.admin_site._actions[name]),
            )
        else:
            monkeypatch.setattr(
                type(model_admin), name, recorder.wrap(getattr(type(model_admin), name))
            )
    return recorders


def _changelist_pks(response) -> set:
    if response.status_code != 200:
        return set()
    return {obj.pk for obj in response.context["cl"].result_list}


def _not_found(response, *, may_see_model: bool) -> bool:
    """The admin's answer for an object the user may not reach."""
    if response.status_code == 302:
        return response["Location"] == reverse("admin:index")
    return response.status_code == 403 and not may_see_model


@pytest.mark.parametrize("label", sorted(ADMINS))
def test_admin_access_matrix(label, world_objects, personas, monkeypatch):
    model_admin = ADMINS[label]
    opts = model_admin.model._meta
    objects = world_objects(label)
    world = world_objects.world
    own, other = objects["own"], objects["other"]
    changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    actions = admin_action_names(model_admin)
    recorders = _install_recorders(monkeypatch, model_admin, actions)
    problems = []

    def url(kind, obj):
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_{kind}", args=[obj.pk])

    for persona in personas:

        def check(ok: bool, what: str, persona=persona):
            if not ok:
                problems.append(f"{label} · {persona.name} · {what}")

        client = Client()
        client.force_login(persona.user)
        rule = functools.partial(admin_rule, label)

        # view: the list, and the change page (read-only or not)
        may_view = persona.may(rule("view"))
        listed = _changelist_pks(client.get(changelist))
        check((own.pk in listed) == may_view, f"lists own (expected {may_view})")
        page = client.get(url("change", own))
        check((page.status_code == 200) == may_view, f"opens own ({page.status_code})")
        for (variant_label, variant), roles in VARIANT_EXPECTED.items():
            if variant_label == label:
                obj = objects[variant]
                check((obj.pk in listed) == persona.may(roles), f"lists {variant}")
        if other is not None:
            may_view_other = persona.may(rule("view"), "other")
            check((other.pk in listed) == may_view_other, "lists other station's")
            answer = client.get(url("change", other))
            check(
                answer.status_code == 200
                if may_view_other
                else _not_found(answer, may_see_model=may_view),
                f"opens other station's ({answer.status_code})",
            )
            answer = client.get(url("delete", other))
            check(
                (answer.status_code == 200) == persona.may(rule("delete"), "other"),
                f"delete page of other station's ({answer.status_code})",
            )

        # change: saving the form as rendered, with choices of writable stations only
        if persona.may(rule("change")):
            check(page.status_code == 200, "change page")
            if page.status_code == 200 and label not in OWN_PAGES:
                offered = _choice_stations(page)
                check(
                    offered <= persona.offered_stations(rule("change"), world),
                    f"change form offers stations {offered}",
                )
                saved = client.post(url("change", own), form_data(page))
                check(
                    saved.status_code == 302 and saved["Location"].startswith(changelist),
                    f"saves own ({saved.status_code}: "
                    f"{saved.context and saved.context['adminform'].form.errors})",
                )
        else:
            # Forbidden; or, when the row is not theirs to see but they may change rows of
            # the model elsewhere, "doesn't exist" (the redirect to the admin's index).
            refused = client.post(url("change", own), {})
            may_change_elsewhere = persona.may(rule("change"), "other")
            if may_view or not may_change_elsewhere:
                check(refused.status_code == 403, f"change refused ({refused.status_code})")
            else:
                check(
                    _not_found(refused, may_see_model=True),
                    f"change of an unseen row ({refused.status_code})",
                )

        # add: the page, and the choices it offers
        may_add = persona.may(rule("add")) or persona.may(rule("add"), "other")
        add = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_add"))
        check((add.status_code == 200) == may_add, f"add page ({add.status_code})")
        if add.status_code == 200:
            offered = _choice_stations(add)
            check(
                offered <= persona.offered_stations(rule("add"), world),
                f"add form offers stations {offered}",
            )

        # delete: the confirmation page
        delete = client.get(url("delete", own))
        check(
            (delete.status_code == 200) == persona.may(rule("delete")),
            f"delete ({delete.status_code})",
        )

        # actions: each runs on a row only for the roles given at that row's station
        for name in actions:
            recorder = recorders[name]
            for where, obj in (("own", own), ("other", other)):
                if obj is None:
                    continue
                recorder.seen.clear()
                client.post(changelist, {"action": name, "_selected_action": [obj.pk]})
                ran = obj.pk in recorder.seen
                check(ran == persona.may(rule(name), where), f"action {name} on {where}: {ran}")

        # autocomplete: what a form of this admin offers to write with
        for field_name in model_admin.autocomplete_fields:
            remote = opts.get_field(field_name).related_model._meta.label_lower
            targets = world_objects(remote)
            answer = client.get(
                reverse("admin:autocomplete"),
                {
                    "app_label": opts.app_label,
                    "model_name": opts.model_name,
                    "field_name": field_name,
                    "term": "",
                },
            )
            offered = (
                {row["id"] for row in answer.json()["results"]}
                if answer.status_code == 200
                else set()
            )
            for where in ("own", "other"):
                check(
                    (str(targets[where].pk) in offered) == persona.may(rule("add"), where),
                    f"autocomplete {field_name} offers {where}",
                )

    assert not problems, "\n".join(problems)


# --- The staff API -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cls", sorted(STAFF_ROUTES, key=lambda c: c.__name__), ids=lambda c: c.__name__
)
def test_api_access_matrix(cls, world_objects, personas):
    label = viewset_label(cls)
    objects = world_objects(label)
    own, other = objects["own"], objects["other"]
    lookup = cls.lookup_url_kwarg or cls.lookup_field
    routes = STAFF_ROUTES[cls]
    list_route = next(p for p in routes if lookup not in p.pattern.regex.groupindex)
    detail_routes = [p for p in routes if lookup in p.pattern.regex.groupindex]
    rule = functools.partial(api_rule, label)
    problems = []

    def key(obj) -> str:
        return str(getattr(obj, cls.lookup_field))

    def detail_url(pattern, obj) -> str:
        return reverse(pattern.name, kwargs={lookup: key(obj)})

    for persona in personas:

        def check(ok: bool, what: str, persona=persona):
            if not ok:
                problems.append(f"{cls.__name__} · {persona.name} · {what}")

        client = APIClient()
        client.force_authenticate(persona.user)

        listed = client.get(reverse(list_route.name))
        rows = listed.json().get("results", []) if listed.status_code == 200 else []
        keys = {str(row.get(cls.lookup_field, row.get("id"))) for row in rows}
        for where, obj in (("own", own), ("other", other)):
            expected = persona.may(rule("read"), where)
            check((key(obj) in keys) == expected, f"lists {where} ({listed.status_code})")
        for (variant_label, variant), roles in VARIANT_EXPECTED.items():
            if variant_label == label:
                check((key(objects[variant]) in keys) == persona.may(roles), f"lists {variant}")

        for pattern in detail_routes:
            for action, method in route_actions(cls, pattern).items():
                kind = "read" if action == "retrieve" else action
                for where, obj in (("own", own), ("other", other)):
                    answer = getattr(client, method)(detail_url(pattern, obj), {}, format="json")
                    reached = answer.status_code not in (401, 403, 404)
                    allowed = persona.may(rule(kind), where)
                    check(reached == allowed, f"{action} {where} ({answer.status_code})")
                    if where == "other" and not persona.may(rule("read"), where):
                        # another station's object is not found, never forbidden; a user
                        # of no station at all is refused before any lookup
                        expected = 403 if persona.own is None else 404
                        check(answer.status_code == expected, f"{action} other: not {expected}")

        for action, method in route_actions(cls, list_route).items():
            if action == "list":
                continue
            answer = getattr(client, method)(reverse(list_route.name), {}, format="json")
            allowed = persona.may(rule(action)) or persona.may(rule(action), "other")
            check(
                (answer.status_code not in (401, 403, 404)) == allowed,
                f"{action} ({answer.status_code})",
            )

    assert not problems, "\n".join(problems)


def test_an_admin_or_endpoint_without_rules_fails_the_matrix():
    """What a newly registered admin or viewset meets until someone writes its rules."""
    with pytest.raises(MissingRule):
        admin_rule("newapp.newmodel", "view")
    with pytest.raises(MissingRule):
        admin_rule("bookings.booking", "a_new_action")  # actions are never defaulted
    with pytest.raises(MissingRule):
        api_rule("payments.payment", "a_new_action")
