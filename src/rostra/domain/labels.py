"""The six moderation labels, used by the engine, the database, the API and the UI alike."""

from typing import Final

TOXICITY: Final = "toxicity"
SEVERE_TOXICITY: Final = "severe_toxicity"
OBSCENE: Final = "obscene"
THREAT: Final = "threat"
INSULT: Final = "insult"
IDENTITY_ATTACK: Final = "identity_attack"

#: The fixed order of the model's outputs, like scikit-learn's ``classes_``.
LABELS: Final[tuple[str, ...]] = (
    TOXICITY,
    SEVERE_TOXICITY,
    OBSCENE,
    THREAT,
    INSULT,
    IDENTITY_ATTACK,
)

#: Reason labels that do not come from the classifier.
SPAM: Final = "spam"
BANNED_TERM: Final = "banned_term"
SUSPECT_TERM: Final = "suspect_term"
