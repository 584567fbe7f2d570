"""The seed's year, simulated: `manage.py simulate` drives the real services over simulated time.

`timeline` holds what happens when (a queue of timed actions) and moves the one clock
(core/clock.py) to each action's time before running it; `figures` holds the seed's own table and
the scaled targets; the programme half and the letter half each plan their actions on the timeline.
"""
