"""Forms of the invitation flow: the owner's invite form (admin) and the new account form
(accept page)."""

from django import forms
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.forms import UsernameField

from stations.models import Role, Station


class InviteForm(forms.Form):
    station = forms.ModelChoiceField(queryset=Station.objects.none())
    email = forms.EmailField(help_text="The invitation link is sent here.")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.AGENT)
    name = forms.CharField(
        max_length=150,
        required=False,
        help_text="For a new account: the person's name (an existing account keeps its own).",
    )

    def __init__(self, *args, stations, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["station"].queryset = stations
        if stations.count() == 1:
            self.fields["station"].initial = stations.first()


class NewAccountForm(forms.Form):
    """A username and a password, checked by the site's password validators."""

    username = UsernameField(max_length=150)
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label="Password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args, invitation, **kwargs):
        super().__init__(*args, **kwargs)
        self.invitation = invitation

    def clean_username(self):
        username = self.cleaned_data["username"]
        if get_user_model().objects.filter(username__iexact=username).exists():
            raise forms.ValidationError("This username is taken.")
        return username

    def clean(self):
        cleaned = super().clean()
        first, second = cleaned.get("password1"), cleaned.get("password2")
        if first and second and first != second:
            self.add_error("password2", "The two passwords differ.")
        elif first:
            first_name, _, last_name = self.invitation.name.partition(" ")
            candidate = get_user_model()(
                username=cleaned.get("username", ""),
                email=self.invitation.email,
                first_name=first_name,
                last_name=last_name,
            )
            try:
                password_validation.validate_password(first, candidate)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return cleaned
