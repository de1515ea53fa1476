"""The reviews admin: the list with its alert for 1-3 star reviews, a review's page where a
manager edits, approves or rejects the reply (agents read it), the list's actions, and the
copy button of a reply to post by hand."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from reviews import services
from reviews.models import Platform, ReplyStatus, ResponseStatus, Review, ReviewResponse
from testing.admin import form_data

pytestmark = pytest.mark.django_db


def review(station, *, platform=Platform.YELP, rating=4, key="1", text="Nice party"):
    made = services.review_upsert(
        station=station,
        platform=platform,
        external_id=key,
        rating=rating,
        author="Jamie Rivera",
        text=text,
        created_on_platform=timezone.now() - timedelta(days=1),
        prepare_reply=False,
    ).review
    services.review_reply_prepare(review_id=made.pk)
    return Review.objects.get(pk=made.pk)


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def change_url(obj) -> str:
    return reverse("admin:reviews_review_change", args=[obj.pk])


def test_the_list_shows_rating_platform_and_reply_status_and_alerts_low_ratings(san_jose, sj_agent):
    review(san_jose, rating=5, key="a")
    review(san_jose, rating=2, key="b", text="Late")
    page = logged_in(sj_agent).get(reverse("admin:reviews_review_changelist"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "★★☆☆☆" in html
    assert "Needs a person" in html
    assert "1 review(s) of 1-3 stars need a person" in html
    assert 'id="review-figures"' in html
    assert "San Jose: " in html
    assert "3.5★ (2)" in html
    filtered = logged_in(sj_agent).get(
        reverse("admin:reviews_review_changelist"), {"reply_status__exact": "needs_person"}
    )
    assert [r.external_id for r in filtered.context["cl"].result_list] == ["b"]


def test_a_manager_edits_and_approves_the_draft_on_the_reviews_page(
    san_jose, sj_manager, django_capture_on_commit_callbacks
):
    made = review(san_jose)
    client = logged_in(sj_manager)
    page = client.get(change_url(made))
    data = form_data(page)
    assert data["reply_text"] == ReviewResponse.objects.get().text
    data.update(reply_text="Thank you Jamie!", decision="approve")
    with django_capture_on_commit_callbacks(execute=True):
        saved = client.post(change_url(made), data)
    assert saved.status_code == 302
    response = ReviewResponse.objects.get()
    assert (response.text, response.edited, response.approver) == (
        "Thank you Jamie!",
        True,
        sj_manager,
    )
    assert response.status == ResponseStatus.POST_MANUALLY  # Yelp: by hand
    page = client.get(change_url(made))
    assert "Copy reply" in page.content.decode()
    assert 'data-text="Thank you Jamie!"' in page.content.decode()


def test_saving_the_draft_keeps_it_a_draft_and_no_reply_rejects_it(san_jose, sj_manager):
    made = review(san_jose)
    client = logged_in(sj_manager)
    data = {**form_data(client.get(change_url(made))), "reply_text": "Edited", "decision": "save"}
    assert client.post(change_url(made), data).status_code == 302
    draft = ReviewResponse.objects.get()
    assert (draft.status, draft.text, draft.edited) == (ResponseStatus.DRAFT, "Edited", True)
    data = {**form_data(client.get(change_url(made))), "decision": "reject"}
    assert client.post(change_url(made), data).status_code == 302
    made.refresh_from_db()
    assert made.reply_status == ReplyStatus.REJECTED
    # A change of mind: a person may still answer a review marked "no reply".
    data = {**form_data(client.get(change_url(made))), "decision": "approve", "reply_text": "x"}
    assert client.post(change_url(made), data).status_code == 302
    assert ReviewResponse.objects.get(status=ResponseStatus.APPROVED).text == "x"
    # Once approved, no further decision.
    data = {**form_data(client.get(change_url(made))), "decision": "reject"}
    refused = client.post(change_url(made), data)
    assert refused.status_code == 200  # the form says why
    assert "approved, posting" in refused.content.decode().lower()


def test_a_low_rating_needs_the_reply_written(san_jose, sj_manager):
    made = review(san_jose, rating=1, text="Terrible")
    client = logged_in(sj_manager)
    data = {**form_data(client.get(change_url(made))), "decision": "approve"}
    answer = client.post(change_url(made), data)
    assert answer.status_code == 200
    assert "Write the reply first." in answer.content.decode()
    assert not ReviewResponse.objects.exists()


def test_an_agent_reads_the_review_but_cannot_decide(san_jose, sj_agent):
    made = review(san_jose)
    client = logged_in(sj_agent)
    page = client.get(change_url(made))
    assert page.status_code == 200
    assert "decision" not in page.content.decode()
    answer = client.post(change_url(made), {"decision": "approve", "reply_text": "x"})
    assert answer.status_code == 403
    assert ReviewResponse.objects.get().status == ResponseStatus.DRAFT


def test_the_approve_action_approves_the_selected_drafts(
    san_jose, sj_manager, django_capture_on_commit_callbacks
):
    drafts = [review(san_jose, key=str(n)) for n in range(3)]
    low = review(san_jose, key="low", rating=2)
    client = logged_in(sj_manager)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("admin:reviews_review_changelist"),
            {"action": "approve_drafts", "_selected_action": [r.pk for r in [*drafts, low]]},
        )
    statuses = dict(Review.objects.values_list("external_id", "reply_status"))
    assert statuses == {
        "0": "post_manually",
        "1": "post_manually",
        "2": "post_manually",
        "low": "needs_person",
    }


def test_google_credentials_are_write_only(san_jose, owner):
    from reviews.models import GoogleLocation

    client = logged_in(owner)
    add = client.get(reverse("admin:reviews_googlelocation_add"))
    data = {
        **form_data(add),
        "station": san_jose.pk,
        "location_name": "accounts/1/locations/2",
        "credential_refresh_token": "1//secret-refresh",
        "credential_client_id": "id",
        "credential_client_secret": "shh",
    }
    assert client.post(reverse("admin:reviews_googlelocation_add"), data).status_code == 302
    location = GoogleLocation.objects.get()
    assert services.google_credentials(location)["refresh_token"] == "1//secret-refresh"
    page = client.get(reverse("admin:reviews_googlelocation_change", args=[location.pk]))
    assert "1//secret-refresh" not in page.content.decode()
    bad = {**form_data(page), "location_name": "not a location"}
    assert (
        client.post(
            reverse("admin:reviews_googlelocation_change", args=[location.pk]), bad
        ).status_code
        == 200
    )


def test_post_again_retries_a_reply_google_refused_for_good(
    san_jose, sj_manager, fake_google_api, django_capture_on_commit_callbacks
):
    from reviews.models import GoogleLocation
    from testing import fake_google

    from .conftest import LOCATION

    made = review(san_jose, platform=Platform.GOOGLE, key="789")
    fake_google_api.add(LOCATION, "789", 4)
    with django_capture_on_commit_callbacks(execute=True):
        services.review_respond(review=made, actor=sj_manager)  # no location yet: refused
    assert ReviewResponse.objects.get().post_failed is True
    location = GoogleLocation.objects.create(station=san_jose, location_name=LOCATION)
    services.google_location_set_credentials(location=location, values=fake_google.CREDENTIALS)
    with django_capture_on_commit_callbacks(execute=True):
        logged_in(sj_manager).post(
            reverse("admin:reviews_review_changelist"),
            {"action": "post_again", "_selected_action": [made.pk]},
        )
    response = ReviewResponse.objects.get()
    assert response.status == ResponseStatus.POSTED
    assert response.post_failed is False
    assert len(fake_google_api.of("PUT")) == 1
