"""Signals of the live studio, for apps that build on it without the studio knowing them."""

from django.dispatch import Signal

# Sent inside the transaction that ends a programme (broadcast=<Broadcast>), so that what the
# receivers write (the archive turns unanswered questions into letters) commits with the end or
# not at all.
programme_ended = Signal()

# Sent inside the transaction that approves a question after its programme ended (broadcast=…):
# no guest will answer it on air, so the archive makes it a letter like those left at the end.
approved_after_end = Signal()
