"""The demo: a site, a news story with the kind of heated thread a city desk gets, a moderator.

Every comment goes through ``post_comment`` and the real moderation engine, so the demo queue
shows what the engine actually holds (insults, obscenity, a threat, an antisemitic trope) next
to the ordinary back-and-forth it publishes.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from rostra.actions.accounts import create_user
from rostra.actions.comments import ModerationEngineLike, post_comment
from rostra.domain.comments import CommentStatus, Role
from rostra.domain.errors import Conflict, RostraError
from rostra.domain.sites import SiteSettings
from rostra.storage.database import transaction
from rostra.storage.identities import upsert_sso_author
from rostra.storage.sites import SiteStore

SITE_SLUG = "demo"
STORY_TITLE = "Council passes €2.1bn budget: bus routes cut, new levy on empty homes"
MODERATOR = "moderator"

# (author, text, index of the comment it replies to or None)
THREAD: list[tuple[str, str, int | None]] = [
    ("Margaret Osei", "Cutting the 14 and 27 bus routes while the stadium gets a new car park "
     "is a choice. My mother relies on the 27 to reach the hospital.", None),
    ("Tom Reilly", "Somebody has to pay for it. Ridership on the 27 is down 40% since 2019, "
     "the numbers are in the appendix.", 0),
    ("Margaret Osei", "Ridership is down because they cut the frequency first. Classic way "
     "to kill a route slowly.", 1),
    ("Dev Patel", "The empty-homes levy is the best thing in this budget. 3,000 flats sitting "
     "empty while people queue for social housing.", None),
    ("Gary Whitlock", "Here we go. The levy will just be passed on to renters like every tax.",
     3),
    ("Dev Patel", "It applies to homes that are empty, Gary. There is no renter to pass it on "
     "to. That is the point.", 4),
    ("Gary Whitlock", "Only an idiot would believe landlords won't find a way round it. Are "
     "you really that naive?", 5),
    ("Sofia Lindqvist", "Can we talk about the 12% increase for the housing department? Where "
     "is that going?", None),
    ("Tom Reilly", "Mostly emergency accommodation. The council is legally required to house "
     "families and hotels are expensive.", 7),
    ("Brian Keogh", "Emergency accommodation for who though. We all know who gets housed "
     "first in this city and it isn't people who grew up here.", 8),
    ("Sofia Lindqvist", "Priority is set by need, Brian, not by passport. The allocation "
     "policy is public.", 9),
    ("Brian Keogh", "Need. Sure. Ten new arrivals in one house and locals on the list for "
     "eight years.", 10),
    ("Amira Haddad", "I arrived in 2016, I pay council tax, I drive a bus on the 14 route "
     "they are cutting. Which side of your list am I on?", 11),
    ("Paul Dunne", "This budget is complete bullshit. Fucking clowns the lot of them, they "
     "can shove their levy up their arse.", None),
    ("Helen Marsh", "Whatever you think of it, the council published the full line-by-line "
     "figures this year. That's a first and worth something.", None),
    ("Nick Adeyemi", "Agree with Helen. I went through the transport section: the cuts save "
     "£4.2m, the stadium parking costs £3.9m. Make of that what you will.", 14),
    ("Gary Whitlock", "£3.9m for parking that brings in match-day revenue. Apples and "
     "oranges.", 15),
    ("Nick Adeyemi", "The revenue projection assumes 30 home games at full capacity. They "
     "averaged 61% last season.", 16),
    ("Frank Doyle", "Follow the money. It's always the Jews, the Rothschild bankers, "
     "pulling the council's strings. They own the stadium, the banks and the press.", None),
    ("Helen Marsh", "The stadium is owned by a pension fund and the club's supporters' trust. "
     "It's in the planning documents.", 18),
    ("Karen Blake", "Councillor Hale voted for every one of these cuts. I know where he lives. "
     "Someone should put a bullet in him before the next vote, and I might be the one.", None),
    ("Dev Patel", "Whatever your anger, that's a threat, Karen. Not okay.", 20),
    ("Oliver Grant", "Why is nobody mentioning the library closures? Three branches, all in "
     "the poorer wards.", None),
    ("Sofia Lindqvist", "Because the libraries were announced in a separate paper last month. "
     "Same consultation though, deadline is the 30th.", 22),
    ("Oliver Grant", "Thanks, didn't know that. Is there a link to the consultation?", 23),
    ("Sofia Lindqvist", "It's on the council site under 'Have your say'. Paper forms at every "
     "branch too.", 24),
    ("Ray Collins", "You people moaning about buses are pathetic morons. Buy a car like an "
     "adult.", 0),
    ("Margaret Osei", "My mother is 84, Ray.", 26),
    ("Tom Reilly", "To be fair to the council, transport funding from central government "
     "fell by a third. They didn't choose that.", None),
    ("Amira Haddad", "Then say so loudly instead of quietly cutting routes that night workers "
     "use.", 28),
    ("Liam Foster", "Immigration is the elephant in the room. Housing, school places, GP "
     "appointments: the budget can't keep up with the numbers.", None),
    ("Nick Adeyemi", "The population grew 1.1% over five years. The housing budget grew "
     "faster than that. The bottleneck is building, not people.", 30),
    ("Liam Foster", "Official numbers. Walk down the high street and tell me it's 1.1%.", 31),
    ("Helen Marsh", "'Walk down the high street' isn't a statistic, Liam.", 32),
    ("Susan Pike", "These immigrants are vermin. They breed like rats and then expect us to "
     "pay for their housing. Send the filthy animals back.", 30),
    ("Dev Patel", "Reported. There's a real debate to have about school places without that.",
     34),
    ("Greg Morton", "BEST PRICES!!! Cheap flights www.cheap-deals-now.biz hotels "
     "www.cheap-deals-now.biz/hotels casino www.cheap-deals-now.biz/win loans "
     "www.cheap-deals-now.biz/loans CLICK NOW!!!", None),
    ("Oliver Grant", "Question for anyone who went to the budget meeting: did they say "
     "whether the 14 gets a replacement service?", None),
    ("Amira Haddad", "A 'demand-responsive' minibus, bookable by app, weekdays only. Nothing "
     "at night.", 37),
    ("Margaret Osei", "An app. For pensioners. Brilliant.", 38),
    ("Tom Reilly", "I was too harsh earlier, Margaret. I hope they keep a night service; "
     "there's a petition for the 27 and I've signed it.", 2),
]

#: Minutes between comments in the demo thread (it spans a few hours before "now").
SPACING_MINUTES = 7


@dataclass
class DemoReport:
    public_url: str
    site_slug: str
    story_url: str
    moderator: str
    password: str | None
    counts: dict[str, int] = field(default_factory=dict)
    created: bool = True

    def summary(self) -> str:
        lines = []
        if self.created:
            lines.append(
                "Demo data created: " + ", ".join(f"{n} {s}" for s, n in self.counts.items())
            )
        else:
            lines.append("Demo data exists already (delete ./rostra.db to start over).")
        lines += [
            f"  Demo article:       {self.public_url}/demo",
            f"  Thread (API):       {self.public_url}/api/v1/sites/{self.site_slug}/thread"
            f"?url={self.story_url}",
            f"  Moderator desk:     {self.public_url}/moderate/",
            f"  Queue (API):        {self.public_url}/api/v1/sites/{self.site_slug}"
            "/moderation/queue",
            f"  API docs (OpenAPI): {self.public_url}/api/v1/docs",
        ]
        if self.password is not None:
            lines.append(f"  Moderator login:    {self.moderator} / {self.password}")
        else:
            lines.append(f"  Moderator login:    {self.moderator} (password set earlier; "
                         "`rostra user password` changes it)")
        return "\n".join(lines)


def seed_demo(
    db: Engine, engine: ModerationEngineLike, *, public_url: str, now: datetime | None = None
) -> DemoReport:
    """Create the demo site, moderator and thread once; later calls only report."""
    now = now or datetime.now(UTC)
    story_url = f"{public_url}/demo"
    with transaction(db) as conn:
        try:
            site = SiteStore.create(
                conn, SITE_SLUG, "The Daily Demo", settings=SiteSettings(guests_allowed=True),
                allowed_origins=[public_url], now=now,
            )
        except Conflict:
            site = None
    if site is None:
        return DemoReport(public_url, SITE_SLUG, story_url, MODERATOR, None, created=False)
    password = secrets.token_urlsafe(12)
    try:
        create_user(db, MODERATOR, Role.MODERATOR, password, site_slugs=[SITE_SLUG], now=now)
    except Conflict:
        password = None  # type: ignore[assignment]
    start = now - timedelta(minutes=SPACING_MINUTES * (len(THREAD) + 1))
    posted_ids: list[int | None] = []
    counts: dict[str, int] = {}
    for i, (name, text, parent) in enumerate(THREAD):
        at = start + timedelta(minutes=SPACING_MINUTES * i)
        with transaction(db) as conn:
            sub = "demo-" + name.lower().replace(" ", "-")
            author_id = upsert_sso_author(conn, site.id, sub, name, None, at)
        parent_id = posted_ids[parent] if parent is not None else None
        try:
            result = post_comment(
                db, engine, site=site, author_id=author_id, body=text, url=story_url,
                title=STORY_TITLE, parent_id=parent_id, now=at,
            )
        except RostraError:
            # The parent was held: answer at the top level, as readers do.
            result = post_comment(
                db, engine, site=site, author_id=author_id, body=text, url=story_url,
                title=STORY_TITLE, now=at,
            )
        status = result.comment.status
        posted_ids.append(result.comment.id if status is CommentStatus.PUBLISHED else None)
        counts[status.value] = counts.get(status.value, 0) + 1
    return DemoReport(public_url, SITE_SLUG, story_url, MODERATOR, password, counts)
