from rest_framework.routers import SimpleRouter


class OptionalSlashRouter(SimpleRouter):
    """Routes that answer with or without the trailing slash: the contract writes
    `/bookings/{reference}/cancel` and `/stations/`, and a POST must never meet a redirect."""

    def __init__(self):
        super().__init__()
        self.trailing_slash = "/?"
