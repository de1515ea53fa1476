"""Replies (issue 16 point 4): the ladder (L3 alerts and is never drafted, L1 only for a
5-star review without text when the station allows it, L2 otherwise), through the AI gateway's
local drafter (audited); deciding (the staff API's respond: managers and owners, agents 403,
other stations 404, once); posting (Google through reviews.google, Yelp and Facebook by hand)."""

import json
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from inbox.models import AIInteraction, Level
from reviews import selectors, services, tasks
from reviews.models import (
    GoogleLocation,
    Platform,
    ReplyStatus,
    ResponseStatus,
    Review,
    ReviewResponse,
)
from testing.fake_openai import running as openai_running

from .conftest import LOCATION

pytestmark = pytest.mark.django_db


def new_review(
    station, *, platform=Platform.GOOGLE, rating=4, text="Great party!", key="789", **kw
):
    return services.review_upsert(
        station=station,
        platform=platform,
        external_id=key,
        rating=rating,
        author="Jamie Rivera",
        text=text,
        created_on_platform=timezone.now() - timedelta(hours=1),
        prepare_reply=False,
        **kw,
    ).review


def prepare(review, capture) -> str:
    with capture(execute=True):
        return tasks.prepare_review_reply(review.pk)


@pytest.mark.parametrize("rating", [1, 2, 3])
def test_a_low_rating_alerts_the_managers_and_is_never_drafted(
    san_jose, sj_manager, owner, sj_agent, rating, django_capture_on_commit_callbacks
):
    review = new_review(san_jose, rating=rating, text="The chef was late")
    assert prepare(review, django_capture_on_commit_callbacks) == "alerted"
    review.refresh_from_db()
    assert review.reply_status == ReplyStatus.NEEDS_PERSON
    assert review.alerted_at is not None
    assert not ReviewResponse.objects.exists()
    assert not AIInteraction.objects.exists()  # no model was asked
    (alert,) = mail.outbox
    assert sorted(alert.to) == sorted([sj_manager.email, owner.email])  # not the agent
    assert f"{rating}-star Google review" in alert.subject
    # Run again (a retried task): nothing more.
    assert prepare(review, django_capture_on_commit_callbacks) == "not waiting"
    assert tasks.alert_review_managers(review.pk) is False
    assert len(mail.outbox) == 1
    assert not ReviewResponse.objects.exists()


def test_a_low_rating_is_linked_to_the_booking_and_conversation_when_known(
    san_jose, clock, django_capture_on_commit_callbacks
):
    from inbox.services import conversation_for

    from .conftest import completed_booking

    booking = completed_booking(san_jose, clock, customer__name="Dana Whitfield")
    conversation = conversation_for(booking.customer)
    review = new_review(san_jose, rating=2, text="Late and cold", key="dana")
    review = Review.objects.get(pk=review.pk)
    assert review.author == "Jamie Rivera"  # not her: no link
    assert review.booking_id is None
    linked = services.review_upsert(
        station=san_jose,
        platform=Platform.YELP,
        external_id="dana-yelp",
        rating=2,
        author="Dana Whitfield",
        text="Late and cold",
        created_on_platform=timezone.now(),
        prepare_reply=False,
    ).review
    assert (linked.booking_id, linked.customer_id, linked.conversation_id) == (
        booking.pk,
        booking.customer_id,
        conversation.pk,
    )


def test_a_four_star_review_gets_an_l2_draft_from_the_local_drafter(
    san_jose, django_capture_on_commit_callbacks
):
    review = new_review(san_jose, rating=4)
    assert prepare(review, django_capture_on_commit_callbacks) == "drafted"
    draft = ReviewResponse.objects.get()
    assert (draft.level, draft.status) == (Level.L2, ResponseStatus.DRAFT)
    assert "Jamie" in draft.text
    assert draft.drafted_text == draft.text
    assert draft.ai_interaction.purpose == "review_reply"
    assert draft.ai_interaction.model == "local-drafter"
    review.refresh_from_db()
    assert review.reply_status == ReplyStatus.DRAFTED
    assert prepare(review, django_capture_on_commit_callbacks) == "not waiting"
    assert ReviewResponse.objects.count() == 1


@pytest.mark.parametrize(
    ("allowed", "text", "level"),
    [(True, "", Level.L1), (False, "", Level.L2), (True, "Loved it", Level.L2)],
)
def test_five_stars_without_text_auto_reply_only_when_the_station_allows(
    san_jose,
    allowed,
    text,
    level,
    google_location,
    fake_google_api,
    django_capture_on_commit_callbacks,
):
    san_jose.review_auto_reply_five_star = allowed
    san_jose.save(update_fields=["review_auto_reply_five_star"])
    fake_google_api.add(LOCATION, "789", 5)
    review = new_review(san_jose, rating=5, text=text)
    prepare(review, django_capture_on_commit_callbacks)
    response = ReviewResponse.objects.get()
    assert response.level == level
    review.refresh_from_db()
    if level == Level.L1:
        assert response.status == ResponseStatus.POSTED
        assert response.approver is None
        assert review.reply_status == ReplyStatus.POSTED
        (put,) = fake_google_api.of("PUT")
        assert put.json == {"comment": response.text}
    else:
        assert response.status == ResponseStatus.DRAFT
        assert fake_google_api.of("PUT") == []


fake_openai = pytest.fixture(openai_running, name="fake_openai")


def test_the_remote_model_drafts_through_the_gateway_with_the_review_as_redacted_data(
    san_jose, fake_openai, django_capture_on_commit_callbacks
):
    from testing.fake_openai import text

    fake_openai.plan(text("Thank you, Jamie! We loved cooking for you."))
    review = new_review(san_jose, rating=4, text="Call me at 408-555-0199, great party")
    assert prepare(review, django_capture_on_commit_callbacks) == "drafted"
    draft = ReviewResponse.objects.get()
    assert draft.text == "Thank you, Jamie! We loved cooking for you."
    (body,) = fake_openai.bodies()
    assert body["model"] == "gpt-4o"
    sent = json.dumps(body)
    assert "408-555-0199" not in sent  # redacted before it left
    assert "<customer_data>" in body["messages"][1]["content"]
    assert draft.ai_interaction.purpose == "review_reply"
    assert draft.ai_interaction.model == "gpt-4o"


def test_ai_unavailable_leaves_the_review_for_a_person(
    san_jose, monkeypatch, django_capture_on_commit_callbacks
):
    from inbox.ai import gateway
    from reviews import replies

    def unavailable(review):
        raise gateway.AIUnavailable("over budget", "over_budget")

    monkeypatch.setattr(replies, "draft_reply", unavailable)
    review = new_review(san_jose, rating=4)
    assert prepare(review, django_capture_on_commit_callbacks) == "waiting for a person"
    review.refresh_from_db()
    assert review.reply_status == ReplyStatus.WAITING
    assert not ReviewResponse.objects.exists()


# --- Deciding, through the staff API ---------------------------------------------------------


def respond_url(review) -> str:
    return f"/api/v1/staff/reviews/{review.pk}/respond"


@pytest.fixture
def drafted(san_jose, django_capture_on_commit_callbacks):
    review = new_review(san_jose, rating=4)
    prepare(review, django_capture_on_commit_callbacks)
    return Review.objects.get(pk=review.pk)


def test_a_manager_approves_the_draft_and_google_gets_it_once(
    drafted,
    sj_manager,
    staff_client,
    google_location,
    fake_google_api,
    django_capture_on_commit_callbacks,
):
    fake_google_api.add(LOCATION, "789", 4)
    client = staff_client(sj_manager)
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(respond_url(drafted), {}, format="json")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["reply_status"] == "approved"  # posted by a task after the decision commits
    (response,) = body["responses"]
    assert response["approver"] == "sj-manager"
    assert response["edited"] is False
    drafted.refresh_from_db()
    assert drafted.reply_status == ReplyStatus.POSTED
    assert ReviewResponse.objects.get().status == ResponseStatus.POSTED
    (put,) = fake_google_api.of("PUT")
    assert put.path == f"/v4/{LOCATION}/reviews/789/reply"
    again = client.post(respond_url(drafted), {"text": "Another"}, format="json")
    assert again.status_code == 409
    assert again.json()["error"] == "review_replied"
    assert len(fake_google_api.of("PUT")) == 1


def test_edit_and_approve_records_the_edit(
    drafted, owner, staff_client, django_capture_on_commit_callbacks
):
    Review.objects.filter(pk=drafted.pk).update(platform=Platform.YELP)
    with django_capture_on_commit_callbacks(execute=True):
        answer = staff_client(owner).post(
            respond_url(drafted), {"text": "Thanks Jamie, see you soon!"}, format="json"
        )
    assert answer.status_code == 200
    response = ReviewResponse.objects.get()
    assert response.text == "Thanks Jamie, see you soon!"
    assert response.edited is True
    # Yelp has no reply API: marked to post by hand.
    assert response.status == ResponseStatus.POST_MANUALLY
    drafted.refresh_from_db()
    assert drafted.reply_status == ReplyStatus.POST_MANUALLY


def test_a_person_writes_the_reply_to_a_low_rating(
    san_jose, sj_manager, staff_client, django_capture_on_commit_callbacks
):
    review = new_review(san_jose, platform=Platform.FACEBOOK, rating=2, text="Late")
    prepare(review, django_capture_on_commit_callbacks)
    client = staff_client(sj_manager)
    empty = client.post(respond_url(review), {}, format="json")
    assert empty.status_code == 400
    assert set(empty.json()["fields"]) == {"text"}
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(respond_url(review), {"text": "We're sorry, Jamie."}, format="json")
    assert answer.status_code == 200
    response = ReviewResponse.objects.get()
    assert (response.level, response.status) == (Level.L3, ResponseStatus.POST_MANUALLY)


def test_an_agent_cannot_respond(drafted, sj_agent, staff_client):
    client = staff_client(sj_agent)
    assert client.get(f"/api/v1/staff/reviews/{drafted.pk}").status_code == 200
    answer = client.post(respond_url(drafted), {"text": "Hi"}, format="json")
    assert answer.status_code == 403
    assert ReviewResponse.objects.get().status == ResponseStatus.DRAFT


def test_staff_of_another_station_get_404(drafted, sac_manager, staff_client):
    client = staff_client(sac_manager)
    assert client.get(f"/api/v1/staff/reviews/{drafted.pk}").status_code == 404
    assert client.post(respond_url(drafted), {"text": "Hi"}, format="json").status_code == 404
    listed = client.get("/api/v1/staff/reviews/").json()["results"]
    assert listed == []


def test_a_chef_sees_no_reviews(drafted, sj_chef, staff_client):
    client = staff_client(sj_chef)
    assert client.get("/api/v1/staff/reviews/").status_code == 403
    assert client.get(f"/api/v1/staff/reviews/{drafted.pk}").status_code == 404


def test_the_list_filters_by_platform_rating_and_reply_status(
    san_jose, sacramento, owner, staff_client, django_capture_on_commit_callbacks
):
    new_review(san_jose, rating=5, key="a")
    low = new_review(san_jose, platform=Platform.YELP, rating=2, key="b")
    prepare(low, django_capture_on_commit_callbacks)
    new_review(sacramento, rating=3, key="c")
    client = staff_client(owner)

    def ids(**query):
        answer = client.get("/api/v1/staff/reviews/", query)
        assert answer.status_code == 200, answer.content
        return sorted(r["external_id"] for r in answer.json()["results"])

    assert ids() == ["a", "b", "c"]
    assert ids(station="san-jose") == ["a", "b"]
    assert ids(platform="yelp") == ["b"]
    assert ids(rating=["2", "3"]) == ["b", "c"]
    assert ids(reply_status="needs_person") == ["b"]
    assert client.get("/api/v1/staff/reviews/", {"rating": "9"}).status_code == 400


def test_google_refusing_the_reply_is_recorded_and_retried_by_the_sweeper(
    drafted, sj_manager, google_location, fake_google_api, django_capture_on_commit_callbacks, clock
):
    fake_google_api.add(LOCATION, "789", 4)
    fake_google_api.plan("accept-token", 503)  # the token is issued, the reply refused
    with django_capture_on_commit_callbacks(execute=True):
        services.review_respond(review=drafted, actor=sj_manager)
    response = ReviewResponse.objects.get()
    assert response.status == ResponseStatus.APPROVED
    assert "503" in response.post_error
    assert selectors.responses_to_post() == []  # backing off
    clock.move_to(timezone.now() + timedelta(minutes=5))
    assert selectors.responses_to_post() == [response.pk]
    assert tasks.sweep_review_replies() == 1  # the sweeper posts it (eagerly, here)
    assert ReviewResponse.objects.get().status == ResponseStatus.POSTED
    assert tasks.post_review_reply(response.pk) == "not approved"  # again: posted once
    assert len(fake_google_api.of("PUT")) == 2  # the refused try and the one that worked


def test_no_google_credentials_is_a_permanent_error_shown_on_the_reply(
    drafted, sj_manager, django_capture_on_commit_callbacks
):
    GoogleLocation.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        services.review_respond(review=drafted, actor=sj_manager)
    response = ReviewResponse.objects.get()
    assert response.status == ResponseStatus.APPROVED
    assert "no Google credentials" in response.post_error
    assert response.post_failed is True
    assert selectors.responses_to_post(now=timezone.now() + timedelta(hours=1)) == []


def test_reject_means_no_reply(drafted, sj_manager):
    services.review_response_reject(review=drafted, actor=sj_manager)
    drafted.refresh_from_db()
    assert drafted.reply_status == ReplyStatus.REJECTED
    assert ReviewResponse.objects.get().status == ResponseStatus.REJECTED
