"""rostra.moderation"""
