"""Bed rules for what CloudTrail checks of the bucket and key it is pointed at: see rules/__init__.py."""


def install():
    pass
