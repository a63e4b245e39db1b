"""``clipdex dedup``: exact copies, near-duplicate videos and reused segments in the library."""

from __future__ import annotations

import json

import click

from clipdex.cli import Context, json_option, typed_errors
from clipdex.render import plural, printable, timestamp


@click.command("dedup")
@click.option(
    "--min-seconds",
    type=click.FloatRange(min=0.5),
    default=2.0,
    show_default=True,
    help="Shortest matched span reported (shorter shared intros are ignored).",
)
@click.option(
    "--threshold",
    type=click.FloatRange(0.0, 1.0),
    default=0.62,
    show_default=True,
    help="Lowest similarity reported: 1 = identical frames, 0 = unrelated.",
)
@json_option
@click.pass_obj
@typed_errors
def command(obj: Context, min_seconds: float, threshold: float, as_json: bool) -> None:
    """Find duplicates: exact copies, near-duplicates (re-encoded, resized, cropped, trimmed)
    and segments of one video reused in another, with the matching time spans."""
    from search.dedup import DedupOptions, find_duplicates

    report = find_duplicates(
        obj.library(), DedupOptions(min_seconds=min_seconds, threshold=threshold)
    )
    if report.unhashed:
        click.echo(
            f"clipdex: {plural(report.unhashed, 'video')} indexed without frame hashes: checked "
            "for exact copies only; re-index into a new library to include them",
            err=True,
        )
    if report.stale:
        click.echo(
            f"clipdex: {plural(report.stale, 'video')} hashed by an older clipdex: flips, crops, "
            "insets and vertical crops of them are not found until `clipdex index --rehash PATH` "
            "(no re-embedding)",
            err=True,
        )
    if as_json:
        click.echo(json.dumps(report.to_json()))
        return
    _print_text(report)


def _span(start_s: float, end_s: float) -> str:
    return f"{timestamp(start_s)}-{timestamp(end_s)}"


def _pair(finding) -> str:
    return (
        f"{finding.similarity:.3f}  A {_span(finding.a_start_s, finding.a_end_s)} ~ "
        f"B {_span(finding.b_start_s, finding.b_end_s)}  A={printable(finding.a.path)}  B={printable(finding.b.path)}"
    )


def _print_text(report) -> None:
    if not report.groups and not report.segments:
        click.echo(f"no duplicates among {report.videos} videos", err=True)
        return
    for number, group in enumerate(report.groups, 1):
        label = "exact copies" if group.kind == "exact" else "near-duplicates"
        click.echo(
            f"group {number}: {label} ({plural(len(group.videos), 'video')}, similarity {group.similarity:.3f})"
        )
        for video in group.videos:
            click.echo(f"  {printable(video.path)}")
        if group.kind != "exact":
            for match in group.matches:
                click.echo(f"    {_pair(match)}")
    if report.segments:
        click.echo("reused segments:")
        for segment in report.segments:
            click.echo(f"  {_pair(segment)}")
