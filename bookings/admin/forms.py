"""The booking change form: in it only the chef can be changed (a reassignment under the
no-overlap rule) and the notes edited. The chef picker says who is free or busy then."""

from django import forms

from bookings import calendar, services
from bookings.models import Booking


class BookingAdminForm(forms.ModelForm):
    class Meta:
        model = Booking
        fields = ["chef", "notes", "allergies"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        chef = self.fields.get("chef")
        booking = self.instance
        if chef is None or booking.pk is None or booking.blocked is None:
            return
        states = calendar.chef_states(booking)  # a constant number of queries
        chef.label_from_instance = lambda c: calendar.chef_state_label(c, states, booking)
        chef.help_text = (
            "Each chef as they are at this booking's time (station time). Saving reassigns "
            "the booking under the no-overlap rule."
        )

    def clean_chef(self):
        chef = self.cleaned_data["chef"]
        if (
            chef is not None
            and "chef" in self.changed_data
            and not services.chef_is_free(booking=self.instance, chef=chef)
        ):
            raise forms.ValidationError(f"{chef.name} is not free at this time.")
        return chef
