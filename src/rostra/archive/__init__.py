"""Readers and writers of comment archives: Disqus, WordPress (WXR), Isso and Rostra's own export.

Every reader is a generator over plain records (``rostra.archive.records``); none of them
touches the database, so a reader can be tested with nothing but a file.
"""
