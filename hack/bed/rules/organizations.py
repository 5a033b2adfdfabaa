"""Bed rules for organizations: see rules/__init__.py."""


def install():
    pass
