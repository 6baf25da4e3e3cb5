"""What a caller not yet known spends of its IP's budget: an anonymous request, or a
credential check (a password, a client secret), charged before it runs."""

from __future__ import annotations

from chalicelib.auth import limiter
from chalicelib.auth.limiter import Quota
from chalicelib.core.errors import RateLimited
from chalicelib.core.settings import get_settings


def charge(ip: str) -> Quota:
    """Counts one request or credential check against the IP, in one conditional write
    that refuses (429) once its budget is spent. Charged before a password or secret is
    checked, an IP out of attempts gets no more guesses (a right guess past the limit is
    refused too), and concurrent guesses cannot all pass a read of the counter; give a
    successful check back with `limiter.refund_ip`."""
    settings = get_settings()
    spent = limiter.charge_ip(ip, settings.anonymous_hourly_limit, settings.burst_limit)
    if not spent.allowed:
        raise RateLimited(spent.quota.retry_after, spent.quota.headers())
    return spent.quota
