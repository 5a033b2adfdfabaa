"""Bed rules for cloudtrail: see rules/__init__.py."""


def install():
    pass
