"""The report's pure core: snapshots to views, buckets, order and the JSON document."""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from report import model
from report.model import Period, Point, RefSnapshot, Snapshot, Target
from report.shape import snapshot_item

POST = Target("post", "hello-world")
HOME = Target("page", "Home_Page")


def test_hourly_views_start_from_the_snapshot_before_the_period() -> None:
    views = model.hourly_views(Snapshot("2026-10-31T23", 10, 8), [Snapshot("2026-11-01T09", 13, 9)])
    assert views == [("2026-11-01T09", 3, 1)]


def test_hourly_views_without_an_earlier_snapshot_count_from_zero() -> None:
    views = model.hourly_views(None, [Snapshot("2026-11-01T10", 5, 4), Snapshot("2026-11-01T09", 2, 2)])
    assert views == [("2026-11-01T09", 2, 2), ("2026-11-01T10", 3, 2)]


def test_hourly_views_a_lower_snapshot_adds_nothing_and_the_sum_holds() -> None:
    # An hour whose snapshot is below an earlier one (a write out of order) counts nothing,
    # and the next hour counts only what is above the highest earlier snapshot.
    snaps = [Snapshot("2026-11-01T09", 10, 6), Snapshot("2026-11-01T10", 7, 5), Snapshot("2026-11-01T11", 12, 7)]
    views = model.hourly_views(Snapshot("2026-10-30T00", 4, 3), snaps)
    assert views == [("2026-11-01T09", 6, 3), ("2026-11-01T11", 2, 1)]
    assert sum(t for _, t, _ in views) == 12 - 4


def test_to_points_adds_hours_into_days_and_leaves_out_empty_ones() -> None:
    hours = [("2026-11-01T09", 2, 1), ("2026-11-01T23", 3, 3), ("2026-11-03T00", 1, 0)]
    assert model.to_points(hours, "day") == (Point("2026-11-01", 5, 4), Point("2026-11-03", 1, 0))
    assert model.to_points(hours, "hour")[0] == Point("2026-11-01T09:00Z", 2, 1)


def test_referrer_views_per_target_from_its_own_earlier_snapshot() -> None:
    other = Target("page", "About_Page")
    snaps = [
        RefSnapshot("2026-11-01", POST, 7),
        RefSnapshot("2026-11-01", other, 2),
        RefSnapshot("2026-11-02", POST, 9),
    ]
    report = model.referrer_report("https://news.ycombinator.com", {POST: 5}, snaps)
    assert report.views == 6
    assert report.targets == ((POST, 4), (other, 2))
    assert report.days == (("2026-11-01", 4), ("2026-11-02", 2))


def test_order_most_views_first_then_by_id() -> None:
    reports = [
        model.TargetReport(Target("post", b), None, t, u, ())
        for b, t, u in [("b", 5, 1), ("a", 5, 1), ("c", 9, 0), ("d", 5, 3)]
    ]
    assert [r.target.key for r in model.by_views(reports)] == ["c", "d", "a", "b"]


def test_referrers_without_views_in_the_period_are_left_out() -> None:
    quiet = model.referrer_report("https://quiet.example", {POST: 3}, [RefSnapshot("2026-11-01", POST, 3)])
    loud = model.referrer_report("https://loud.example", {}, [RefSnapshot("2026-11-01", POST, 3)])
    assert [r.referrer for r in model.referrers_by_views([quiet, loud])] == ["https://loud.example"]


def test_parse_target_refuses_other_shapes() -> None:
    assert model.parse_target("post:a:b/c", ":") == Target("post", "a:b/c")
    assert model.parse_target("page#Home_Page", "#") == HOME
    assert model.parse_target("other:x", ":") is None
    assert model.parse_target("post:", ":") is None


def test_default_period_is_thirty_days_today_included() -> None:
    period = model.default_period(date(2026, 11, 30))
    assert (period.since, period.until, len(period.days())) == (date(2026, 11, 1), date(2026, 11, 30), 30)


def test_period_bounds_cover_every_bucket_of_its_days() -> None:
    period = Period(date(2026, 11, 1), date(2026, 11, 30))
    assert (period.first_hour, period.last_hour) == ("2026-11-01T00", "2026-11-30T23")
    # Every referrer bucket of the last day sorts below the upper bound, none of the next day does.
    assert "2026-11-30#post#~~~~" < period.after_last_day < "2026-12-01"


_snapshots = st.lists(
    st.tuples(st.integers(0, 71), st.integers(0, 50), st.integers(0, 50)), max_size=40, unique_by=lambda s: s[0]
)


@settings(max_examples=300, deadline=None)
@given(
    _snapshots,
    st.one_of(st.none(), st.tuples(st.integers(0, 50), st.integers(0, 50))),
    st.sampled_from(["day", "hour"]),
)
def test_item_points_equal_hourly_views_then_to_points(
    hours: list[tuple[int, int, int]], before: tuple[int, int] | None, by: model.By
) -> None:
    # The report's one-pass loop over Query items against the two-step rule it replaces,
    # out-of-order (lower) snapshots included.
    snaps = sorted(Snapshot(f"2026-11-{1 + h // 24:02d}T{h % 24:02d}", t, u) for h, t, u in hours)
    earlier = Snapshot("2026-10-31T23", *before) if before else None
    items = [snapshot_item(POST, s.bucket, s.total, s.unique) for s in snaps]
    assert model.item_points(earlier, items, by) == model.to_points(model.hourly_views(earlier, snaps), by)
