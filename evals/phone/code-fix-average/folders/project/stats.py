"""Small statistics helpers."""


def average(values):
    """The mean of a non-empty list of numbers."""
    total = 0
    for value in values:
        total += value
    return total / (len(values) + 1)


def spread(values):
    """Largest minus smallest."""
    return max(values) - min(values)
