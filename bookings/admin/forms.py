"""The booking change form: in it only the chef can be changed (a reassignment under the
no-overlap rule) and the notes edited."""

from django import forms

from bookings import services
from bookings.models import Booking


class BookingAdminForm(forms.ModelForm):
    class Meta:
        model = Booking
        fields = ["chef", "notes"]

    def clean_chef(self):
        chef = self.cleaned_data["chef"]
        if "chef" in self.changed_data and not services.chef_is_free(
            booking=self.instance, chef=chef
        ):
            raise forms.ValidationError(f"{chef.name} is not free at this time.")
        return chef
