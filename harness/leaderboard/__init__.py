"""The leaderboard, by concern: :mod:`.entries` (records read and put in PR order),
:mod:`.board` (acceptance verdicts under each policy), :mod:`.render` (the five outputs)."""
