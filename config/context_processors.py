from payments import stripe_client


def payments_mode(request) -> dict:
    """Lets every admin page say so when payments are offline (no real money moves)."""
    return {"payments_offline": stripe_client.is_offline()}
