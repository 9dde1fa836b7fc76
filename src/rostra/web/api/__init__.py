"""The REST API under /api/v1: public threads, readers' comments, moderation."""
