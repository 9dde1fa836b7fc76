"""rostra.storage"""
