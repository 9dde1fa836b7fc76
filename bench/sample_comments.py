"""Deterministic, civil news comments of about 300 characters of Markdown for the benchmarks.

Built from sentence parts so that no two comments are the same (near-duplicate detection must
not fire), with the Markdown a reader would use: emphasis, strong, a quote, inline code.
"""

from __future__ import annotations

import random

OPENERS = [
    "I read the whole article twice.", "Thanks for covering this.", "Good reporting, as usual.",
    "This is the first I have heard of it.", "My neighbours were talking about this yesterday.",
    "Interesting piece.", "I have lived here for twenty years.", "Fair points all round.",
    "As a teacher I see this every week.", "I went to the meeting last night.",
]
TOPICS = [
    "the new bus timetable", "the council budget", "the library opening hours",
    "the bridge repairs", "the school catchment change", "the market square plans",
    "the recycling collections", "the cycle lane on the high street", "the summer festival",
    "the hospital parking charges", "the river clean-up", "the housing plans near the station",
]
VIEWS = [
    "seems sensible if the numbers in the report hold up",
    "needs a proper consultation before anything is signed",
    "will help families more than the article suggests",
    "has been promised before and never delivered",
    "could work if the funding is there for more than a year",
    "deserves more attention than it is getting",
    "is being discussed without asking the people who use it",
]
DETAILS = [
    "The figures on page two do not add up to the total quoted by the spokesperson.",
    "Last time the work ran three months over and nobody explained why.",
    "Other towns have done this well; we could simply copy what worked there.",
    "It would help to publish the full report rather than a summary.",
    "The evening meeting clashed with school pick-up, so few parents could attend.",
    "Older residents rely on this and were not mentioned once.",
    "The map in the article is a year out of date.",
    "A follow-up piece in six months would be welcome.",
]
QUOTES = [
    "the plan is fully costed", "residents were consulted", "work starts in the spring",
    "there will be no disruption", "the service will improve",
]


def comment_text(index: int) -> str:
    """Comment number ``index``: the same text for the same index, 250 to 350 characters."""
    rng = random.Random(index)
    topic = rng.choice(TOPICS)
    details = rng.sample(DETAILS, len(DETAILS))
    parts = [
        rng.choice(OPENERS),
        f"In my view **{topic}** {rng.choice(VIEWS)}.",
        f"> The article says {rng.choice(QUOTES)}.\n",
        details.pop(),
    ]
    if rng.random() < 0.5:
        parts.append(f"Does anyone know whether `{topic.split()[-1]}` is on the *agenda* again?")
    text = " ".join(parts[:2]) + "\n\n" + parts[2] + "\n" + " ".join(parts[3:])
    while len(text) < 250 and details:
        text += " " + details.pop()
    return text[:350].rstrip() + f" (#{index})"
