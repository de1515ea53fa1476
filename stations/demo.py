"""
Builders for `manage.py seed_demo`. Each builder is idempotent and returns a one-line summary.
Each app keeps its own builders in its `demo.py`; seed_demo runs their STEPS in order.
"""

from django.contrib.auth import get_user_model

from stations.models import Chef, Membership, Role, ServiceZone, Station

DEFAULT_PASSWORD = "hibachi-demo"  # noqa: S105 - the documented demo password

STATIONS = {
    "san-jose": {
        "name": "San Jose",
        "timezone": "America/Los_Angeles",
        "phone": "+14085550100",
        "email": "sanjose@example.com",
        "chefs": ["Kenji Tanaka", "Maria Lopez", "David Kim"],
        "zones": [
            (
                "San Jose",
                [
                    "95110",
                    "95112",
                    "95113",
                    "95116",
                    "95117",
                    "95118",
                    "95125",
                    "95126",
                    "95128",
                    "95129",
                    "95130",
                ],
                0,
            ),
            ("Santa Clara and Cupertino", ["95014", "95050", "95051", "95054"], 2_500),
            ("Peninsula", ["94301", "94303", "94040", "94041", "94043", "94085", "94086"], 5_000),
        ],
    },
    "sacramento": {
        "name": "Sacramento",
        "timezone": "America/Los_Angeles",
        "phone": "+19165550100",
        "email": "sacramento@example.com",
        "chefs": ["Hiro Sato", "Ana Silva", "Tom Nguyen"],
        "zones": [
            ("Sacramento", ["95811", "95814", "95816", "95818", "95819", "95822", "95831"], 0),
            ("Elk Grove and Roseville", ["95624", "95757", "95758", "95661", "95678"], 3_000),
        ],
    },
}

# username: (first name, last name, {station slug: role}, superuser)
USERS = {
    "admin": ("Ada", "Admin", {}, True),
    "demo-owner": ("Olivia", "Owner", {"san-jose": Role.OWNER, "sacramento": Role.OWNER}, False),
    "sj-manager": ("Sam", "Manager", {"san-jose": Role.MANAGER}, False),
    "sj-agent": ("Alex", "Agent", {"san-jose": Role.AGENT}, False),
    "sj-chef": ("Kenji", "Tanaka", {"san-jose": Role.CHEF}, False),
    "sac-manager": ("Riley", "Manager", {"sacramento": Role.MANAGER}, False),
}


def build_stations(*, password: str) -> str:
    for slug, spec in STATIONS.items():
        station, _ = Station.objects.update_or_create(
            slug=slug,
            defaults={k: spec[k] for k in ("name", "timezone", "phone", "email")}
            | {"active": True},
        )
        for name, zips, fee in spec["zones"]:
            ServiceZone.objects.update_or_create(
                station=station, name=name, defaults={"zip_codes": zips, "travel_fee_cents": fee}
            )
        for chef_name in spec["chefs"]:
            Chef.objects.update_or_create(
                station=station, name=chef_name, defaults={"active": True}
            )
    return f"{len(STATIONS)} stations, {sum(len(s['chefs']) for s in STATIONS.values())} chefs"


def build_users(*, password: str) -> str:
    user_model = get_user_model()
    stations = {s.slug: s for s in Station.objects.filter(slug__in=STATIONS)}
    for username, (first, last, roles, superuser) in USERS.items():
        user, _ = user_model.objects.get_or_create(username=username)
        user.first_name, user.last_name = first, last
        user.email = f"{username}@example.com"
        user.is_staff = True
        user.is_superuser = superuser
        user.is_active = True
        user.set_password(password)
        user.save()
        for slug, role in roles.items():
            Membership.objects.update_or_create(
                user=user, station=stations[slug], defaults={"role": role}
            )
    sj_chef = user_model.objects.get(username="sj-chef")
    Chef.objects.filter(station=stations["san-jose"], name="Kenji Tanaka").update(user=sj_chef)
    return f"{len(USERS)} users"


STEPS = [
    ("stations, zones and chefs", build_stations),
    ("users and memberships", build_users),
]
