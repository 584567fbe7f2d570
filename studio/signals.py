"""Signals of the live studio, for apps that build on it without the studio knowing them."""

from django.dispatch import Signal

# Sent inside the transaction that ends a programme (broadcast=<Broadcast>), so that what the
# receivers write (the archive turns unanswered questions into letters) commits with the end or
# not at all.
programme_ended = Signal()
