"""Month arithmetic on integer month indices (0 = the first month of the data)."""

from __future__ import annotations

import datetime as dt

import numpy as np

EPOCH = np.datetime64("1970-01-01", "D")


class MonthGrid:
    """Dates of months ``-lead .. months + tail - 1`` as day numbers since 1970-01-01.

    Month 0 is the first month of the history and ``months - 1`` the month of ``end``.
    Everything is vectorised: pass arrays of month indices, get arrays of day numbers.
    """

    def __init__(self, end: dt.date, months: int, lead: int = 360, tail: int = 36) -> None:
        self.months = months
        self.lead = lead
        first = np.datetime64(end, "M") - (months - 1)
        self.month64 = first + np.arange(-lead, months + tail + 1)  # one extra for month ends
        starts = self.month64.astype("datetime64[D]")
        self._start = (starts - EPOCH).astype(np.int64)
        self.calendar_month = (self.month64.astype(np.int64) % 12 + 1)[:-1]

    def _ix(self, m: np.ndarray | int) -> np.ndarray:
        return np.asarray(m) + self.lead  # the grid is sized so that this stays inside

    def start(self, m: np.ndarray | int) -> np.ndarray:
        """Day number of the first day of month ``m``."""
        return self._start[self._ix(m)]

    def end(self, m: np.ndarray | int) -> np.ndarray:
        """Day number of the last day of month ``m``."""
        return self._start[self._ix(m) + 1] - 1

    def days_in(self, m: np.ndarray | int) -> np.ndarray:
        return self.end(m) - self.start(m) + 1

    def month_of_year(self, m: int) -> int:
        return int(self.calendar_month[m + self.lead])

    def month_end_date(self, m: int) -> dt.date:
        return (EPOCH + np.timedelta64(int(self.end(m)), "D")).astype(dt.date)

    def index_of(self, month: str | dt.date) -> int:
        """Month index of a ``YYYY-MM`` string or a date."""
        target = np.datetime64(month, "M")
        return int((target - self.month64[self.lead]).astype(np.int64))
