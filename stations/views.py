"""The invitation accept page (/invitations/<token>/): server-rendered, thin; the writes are in
stations.services.

An unknown token is a 404 and a used or expired one a 410, both the same page without the
station, role or address: only a working link shows what it invites to."""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import login
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache

from stations import selectors, services
from stations.forms import NewAccountForm

TEMPLATE = "stations/invitation.html"
GONE_TEMPLATE = "stations/invitation_gone.html"


def _gone(request, status: int):
    return render(request, GONE_TEMPLATE, admin.site.each_context(request), status=status)


@never_cache
def invitation_view(request, token: str):
    invitation = selectors.invitation_for_token(token)
    if invitation is None:
        return _gone(request, 404)
    if not invitation.is_open():
        return _gone(request, 410)
    if selectors.has_account(invitation.email):
        return _existing_account(request, invitation)
    return _new_account(request, invitation)


def _existing_account(request, invitation):
    user = request.user
    signed_in_as_invitee = (
        user.is_authenticated and services.normalize_email(user.email or "") == invitation.email
    )
    login_url = f"{reverse('admin:login')}?{urlencode({'next': request.path})}"
    if request.method == "POST" and not user.is_authenticated:
        return redirect(login_url)
    if request.method == "POST" and signed_in_as_invitee:
        try:
            services.invitation_accept(invitation=invitation, user=user)
        except services.InvitationClosed:
            return _gone(request, 410)
        messages.success(request, f"You are now a member of {invitation.station}.")
        return redirect("admin:index")
    context = {
        **admin.site.each_context(request),
        "title": "Invitation",
        "invitation": invitation,
        "existing": True,
        "signed_in_as_invitee": signed_in_as_invitee,
        "login_url": login_url,
    }
    # Signed in as someone else: the page says to sign in as the invited account instead.
    status = 403 if request.method == "POST" else 200
    return render(request, TEMPLATE, context, status=status)


def _new_account(request, invitation):
    form = NewAccountForm(request.POST or None, invitation=invitation)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.invitation_accept_new_account(
                invitation=invitation,
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password1"],
            )
        except services.InvitationClosed:
            return _gone(request, 410)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            login(request, user, backend=settings.AUTHENTICATION_BACKENDS[0])
            messages.success(request, f"Welcome! You are now a member of {invitation.station}.")
            return redirect("admin:index")
    context = {
        **admin.site.each_context(request),
        "title": "Invitation",
        "invitation": invitation,
        "existing": False,
        "form": form,
    }
    return render(request, TEMPLATE, context)
