"""Bed rules for kms: see rules/__init__.py."""


def install():
    pass
