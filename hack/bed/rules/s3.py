"""Bed rules for s3: see rules/__init__.py."""


def install():
    pass
