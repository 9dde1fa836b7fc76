"""The vocabulary of Rostra: dataclasses, enums and pure functions; no I/O."""
