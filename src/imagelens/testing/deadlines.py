"""A request deadline for tests: one that expires at a chosen check, whatever the clock says."""

from __future__ import annotations

from imagelens import deadline


class ExpiresAtCheck(deadline.Deadline):
    """Passes its first ``passing`` checks, then raises the request-timeout error at every later one: a test can
    tell which check a code path reaches (e.g. the one after a single uninterruptible call)."""

    def __init__(self, passing: int = 1) -> None:
        super().__init__(3600.0)
        self.passing = passing
        self.checks = 0

    def check(self) -> None:
        self.checks += 1
        if self.checks > self.passing:
            raise self.timeout_error()
