"""Faults on the whole pipeline (moto, in process): every accepted view counted exactly
once, every failed message either retried-then-counted or in a DLQ, never both or neither.

Each scenario publishes views through the views function, adds poison messages, drains
the real SQS queues (with redrive) through the consumers while its faults fire on a
seeded RNG, and then replays the writer's stream into the reader, duplicated and
shuffled. Every assertion below holds for every scenario.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from moto import mock_aws
from support.aws import Cloud, build_cloud, fake_aws_environment
from support.series import series_mismatches

from handlers import aws as handler_clients
from handlers import top_posts

from .conftest import PROFILE, Figures, Profile
from .pipeline import (
    SCENARIOS,
    Accepted,
    Drained,
    Plan,
    dlq_message_ids,
    drain,
    install_faults,
    publish_views,
    replay_series_streams,
    replay_stream,
    send_poison,
    stream_records,
)

pytestmark = pytest.mark.timeout(PROFILE.timeout_seconds)


@dataclass
class Run:
    cloud: Cloud
    plan: Plan
    accepted: Accepted
    drained: Drained
    dlq: set[str]
    stream_invocations: int


@pytest.fixture(scope="module")
def module_cloud() -> Iterator[pytest.MonkeyPatch]:
    """The shared `cloud` fixture's environment, once per scenario rather than per test."""
    with pytest.MonkeyPatch.context() as patch:
        fake_aws_environment(patch)
        yield patch


@pytest.fixture(scope="module", params=sorted(SCENARIOS))
def run(
    request: pytest.FixtureRequest, module_cloud: pytest.MonkeyPatch, profile: Profile, figures: Figures
) -> Iterator[Run]:
    scenario = request.param
    with mock_aws():
        yield scenario_run(scenario, build_cloud(module_cloud), profile, figures)
    handler_clients.reset()


def scenario_run(scenario: str, cloud: Cloud, profile: Profile, figures: Figures) -> Run:
    rng = random.Random(f"faults-{scenario}")
    plan = Plan(SCENARIOS[scenario], random.Random(f"plan-{scenario}"))
    install_faults(plan)
    accepted = publish_views(profile.fault_views, rng, plan)
    drained = Drained()
    send_poison(cloud, drained)
    drain(cloud, plan, rng, drained)
    dlq = dlq_message_ids(cloud)
    stream_invocations = replay_stream(stream_records(cloud), plan, rng)
    stream_invocations += replay_series_streams(cloud, plan, rng)
    fired = ", ".join(f"{k} x{n}" for k, n in sorted(plan.fired.items())) or "none besides the poison"
    failed = sum(d.failures > 0 for d in drained.messages.values())
    figures.add(
        "Faults",
        f"{scenario}: {len(accepted.event_ids)} views accepted ({len(accepted.unavailable_event_ids)} answered "
        f"unavailable), {len(drained.poison_ids)} poison; faults fired: {fired}; {failed} messages failed at least "
        f"once over {drained.invocations} consumer and {stream_invocations} replicate and series invocations",
    )
    return Run(cloud, plan, accepted, drained, dlq, stream_invocations)


def counts(cloud: Cloud, table: str, key: str) -> dict[str, tuple[int, int]]:
    return {i[key]["S"]: (int(i["totalViews"]["N"]), int(i["uniqueViews"]["N"])) for i in cloud.items(table)}


def expected(counter: dict[tuple[str, str], int]) -> dict[str, tuple[int, int]]:
    return {name: (counter[(name, "total")], counter[(name, "unique")]) for name, _ in counter}


def test_pipeline_scenario_faults_fired(run: Run) -> None:
    assert set(run.plan.fired) == run.plan.kinds, "a fault of the scenario never fired: the run proves nothing"


def test_pipeline_post_counts_equal_accepted_views(run: Run) -> None:
    assert counts(run.cloud, "PostCountWriter", "articleId") == expected(run.accepted.posts)


def test_pipeline_page_counts_equal_accepted_views(run: Run) -> None:
    assert counts(run.cloud, "HomeAndProfile", "pageName") == expected(run.accepted.pages)


def test_pipeline_referrer_counts_equal_accepted_external_referrers(run: Run) -> None:
    rows = {(r["referrer"]["S"], r["target"]["S"]): int(r["views"]["N"]) for r in run.cloud.items("Referrer")}
    assert rows == dict(run.accepted.referrers)


def test_pipeline_one_marker_per_accepted_view_and_none_for_unavailable(run: Run) -> None:
    markers = {i["markerId"]["S"] for i in run.cloud.items("CountedEvents")}
    wanted = {f"views#{e}" for e in run.accepted.event_ids} | {f"referrer#{e}" for e in run.accepted.referred_event_ids}
    assert markers == wanted
    assert not {m.split("#", 1)[1] for m in markers} & run.accepted.unavailable_event_ids


def test_pipeline_every_message_of_every_batch_counted_or_reported(run: Run) -> None:
    """Copies of messages sat at random places inside batches (same eventId, SNS's double
    delivery); no invocation left a message both uncounted and unreported."""
    assert run.drained.in_batch_copies > 0, "no batch held a duplicate: the check proves nothing"
    assert run.drained.unaccounted == []


def test_pipeline_dlqs_hold_exactly_the_poison(run: Run) -> None:
    assert run.dlq == run.drained.poison_ids


def test_pipeline_every_failed_message_retried_or_dead_never_both_never_neither(run: Run) -> None:
    failed = {i: d for i, d in run.drained.messages.items() if d.failures}
    assert failed, "no message ever failed"
    both = [i for i, d in failed.items() if d.deleted and i in run.dlq]
    neither = [i for i, d in failed.items() if not d.deleted and i not in run.dlq]
    assert both == [] and neither == []
    assert [i for i, d in run.drained.messages.items() if not d.deleted and i not in run.dlq] == []


def test_pipeline_reader_equals_writer_after_replayed_reordered_stream(run: Run) -> None:
    reader = {i["articleId"]["S"]: i for i in run.cloud.items("PostCountReader")}
    writer = {i["articleId"]["S"]: i for i in run.cloud.items("PostCountWriter")}
    assert reader == writer


def test_pipeline_top_posts_equal_the_readers_top_after_replayed_reordered_stream(run: Run) -> None:
    posts = sorted((top_posts.ranked(i) for i in run.cloud.items("PostCountReader")), key=lambda p: p.rank)
    top = top_posts.decode(run.cloud.item("TopPosts", listId=top_posts.LIST_ID))
    assert top.posts == tuple(posts[: top_posts.TOP_SIZE])


def test_pipeline_series_of_every_key_sums_to_its_counts_after_replayed_reordered_streams(run: Run) -> None:
    """Posts' and pages' hourly totals and uniques, and each referrer and target's daily views."""
    assert series_mismatches(run.cloud) == []
