"""The charts' drawing: what the app draws equals what plotext and Textual would have drawn (the SVG
snapshots rely on it), identical transformer blocks get identical FLOPs bars (issue 16), and a key
press rebuilds only what changed."""

from __future__ import annotations

import pytest
from rich.text import Text
from test_app import settle
from textual.visual import Visual, visualize
from textual_plotext.plot import Plot

import splittui
from splittui.costs import layer_values
from splittui.tui.app import make_app
from splittui.tui.state import Parts, compute_state
from splittui.tui.widgets.chart_kinds import CHARTS, View, bar_groups, flops_bars
from splittui.tui.widgets.charts import ChartPlot, build_chart
from splittui.tui.widgets.plotext_canvas import matrix_runs, runs_text
from splittui.tui.widgets.strip import blocks


@pytest.fixture(scope="module")
def profile():
    return splittui.load_profile("gpt2-like")


@pytest.fixture(scope="module")
def states(profile):
    return [compute_state(profile, splittui.Scenario(**knobs), parts=Parts(sweep=True))
            for knobs in (dict(), dict(deadline_ms=80), dict(gen_tokens=16, deadline_ms=3000))]


def test_runs_hold_what_plotext_writes(states):
    """matrix_runs skips plotext's ANSI string; the Text it makes equals Text.from_ansi of that string."""
    for st in states:
        for kind, (draw, _caption) in CHARTS.items():
            for width, height in ((76, 9), (116, 25), (30, 6)):
                plt = Plot()
                plt.plotsize(width, height)
                paint = draw(plt, st, View(width=width, height=height))
                plt._set_sizes()
                plt._build_matrix()
                if paint is not None:
                    paint(plt.monitor.matrix)
                ours = runs_text(matrix_runs(plt.monitor.matrix))
                theirs = Text.from_ansi(plt.monitor.matrix.set_canvas())
                assert (ours.plain, ours.spans) == (theirs.plain, theirs.spans), (kind, width, height)


def _segments(strips) -> list:
    """Text and style of each segment, meta too: an SVG screenshot joins segments of equal style."""
    return [[(seg.text, seg.style) for seg in strip] for strip in strips]


@pytest.mark.parametrize("theme", ["textual-dark", "textual-light", "ansi-dark"])
async def test_plot_lines_are_what_textual_renders_of_the_text(profile, theme):
    app = make_app(profile, show_timings=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.theme = theme
        for tab in ("placement", "frontier", "flops", "bandwidth", "timeline"):
            app.action_show_tab(tab)
            await settle(pilot)
            await pilot.pause()
            for plot in app.query(ChartPlot):
                if not plot.region.width:
                    continue
                runs = plot.runs()
                width, height = plot.size
                theirs = Visual.to_strips(plot, visualize(plot, runs_text(runs)), width, height, plot.visual_style)
                assert _segments(plot._to_strips(runs)) == _segments(theirs), (tab, plot.chart.id)


def test_identical_blocks_get_identical_bars(profile):
    """One plotext bar per layer rounded its edges per bar: identical blocks drew 2 and 3 columns wide."""
    names = [layer.name for layer in profile.layers]
    for columns in (40, 70, 110, 150, 400):
        groups, per = bar_groups(names, columns)
        assert len(groups) * per <= columns
        starts = [start for start, _ in blocks(names)]
        inner = [s for s, e in zip(starts, [*starts[1:], len(names)], strict=False) if e - s == 8]   # the h-blocks
        shapes = {tuple((a - s, b - s) for a, b in groups if s <= a < s + 8) for s in inner}
        assert len(shapes) == 1, columns


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (200, 60)])
def test_flops_chart_draws_every_block_alike(states, size):
    st = states[0]
    view = View(width=size[0] - 4, height=size[1] - 14)
    rows = ["".join(part for part, _ in row) for row in build_chart(Plot(), "flops", st, view)]
    canvas = [text for text in rows if "┤" in text or "│" in text[:8]]
    names = [layer.name for layer in st.profile.layers]
    bars = flops_bars(layer_values(st.profile, "flops", st.scenario.seq_len) / 1e9, names, view)
    first = {a: g for g, (a, _b) in enumerate(bars.groups)}
    h_starts = [s for s, label in blocks(names) if label.startswith("h")]
    per_block = sum(1 for a, _b in bars.groups if h_starts[0] <= a < h_starts[1])
    left = min(text.index("┤") for text in canvas if "┤" in text) + 1
    columns = [[text[left + first[s] * bars.per: left + (first[s] + per_block) * bars.per] for text in canvas]
               for s in h_starts]
    assert len(columns) > 2 and all(col == columns[0] for col in columns), size
    assert any("█" in cell for col in columns for cell in col)


async def test_a_state_that_leaves_a_plot_unchanged_does_not_rebuild_it(profile):
    """The worker's second answer (the hidden tabs' rows) keeps the shown chart's arrays: no plotext build."""
    from dataclasses import replace

    app = make_app(profile, show_timings=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        app.action_show_tab("frontier")
        await settle(pilot)
        chart = app.query_one("#chart-frontier")
        plot = chart.query_one(ChartPlot)
        built = plot._key
        app._generation += 1
        app.state = replace(app.state, generation=app._generation, note="more rows")
        await pilot.pause()
        assert chart.shown_generation == app._generation and plot._key is built
        app._generation += 1
        app.state = replace(app.state, generation=app._generation,
                            scenario=app.state.scenario.replace(deadline_ms=1234))
        await pilot.pause()
        await pilot.pause()
        assert chart.shown_generation == app._generation and plot._key is not built


def test_lines_and_labels_are_plotexts(monkeypatch, states, profile):
    """The frontier, sweep and timeline lines (and the timeline's labels) drawn on the matrix equal
    plotext's own plot() and text()."""
    from splittui.tui.widgets import chart_kinds

    def plotext_lines(plt, lines, marker="braille", labels=None):
        for xs, ys, colour in lines:
            plt.plot(xs, ys, color=colour, marker=marker)
        for text, x, y, colour, back in labels or ():
            plt.text(text, x=x, y=y, color=colour, background=back, alignment="center")
        return None

    extra = [compute_state(profile, splittui.Scenario(deadline_ms=900)),
             compute_state(profile, splittui.Scenario(deadline_ms=400, up_mbps=1000, delay_ms=1))]
    views = [dict(), dict(exact=((300.0, 0.9), (700.0, 0.5), (1200.0, 0.2)), cursor=800.0),
             dict(selected="greedy")]
    for st in [*states, *extra]:
        for kind in ("frontier", "bandwidth", "timeline"):
            for width, height in ((76, 9), (116, 25), (59, 7), (30, 6)):
                for more in views:
                    view = View(width=width, height=height, **more)
                    ours = build_chart(Plot(), kind, st, view)
                    with monkeypatch.context() as m:
                        m.setattr(chart_kinds, "draw_lines", plotext_lines)
                        theirs = build_chart(Plot(), kind, st, view)
                    assert ours == theirs, (kind, width, height, more)


@pytest.mark.parametrize("area", [(3, 40, 2, 9), (0, 0, 0, 0), (-2, 90, -1, 30), (5, 2, 4, 1), (0, 50, 0, 12)])
def test_canvas_matrices_are_plotexts(area):
    """The row-at-a-time `set_matrices` installed on plotext's matrix makes the same four matrices as plotext's
    own, for canvas areas inside, empty, beyond and reversed."""
    from plotext._matrix import matrix_class

    from splittui.tui.widgets import plotext_canvas

    assert matrix_class.set_matrices is plotext_canvas._set_matrices   # installed by importing the module
    for cols, rows in ((50, 12), (1, 1), (0, 3), (7, 0)):
        ours, theirs = matrix_class(), matrix_class()
        for m in (ours, theirs):
            m.set_size(cols, rows)
            m.set_canvas_area(*area)
            m.set_axes_color((1, 2, 3))
            m.set_canvas_color((4, 5, 6))
        plotext_canvas._set_matrices(ours)
        plotext_canvas.PLOTEXT_SET_MATRICES(theirs)
        for name in ("marker", "fullground", "background", "style"):
            assert getattr(ours, name) == getattr(theirs, name), (name, cols, rows)
            assert len({id(row) for row in getattr(ours, name)}) == rows, name   # every row a list of its own


def test_charts_built_with_plotexts_matrices_are_the_same(monkeypatch, states):
    """Every chart kind, built with plotext's own `set_matrices` and with splittui's, gives the same runs."""
    from plotext._matrix import matrix_class

    from splittui.tui.widgets import plotext_canvas

    for kind in CHARTS:
        view = View(width=80, height=14)
        ours = build_chart(Plot(), kind, states[0], view)
        monkeypatch.setattr(matrix_class, "set_matrices", plotext_canvas.PLOTEXT_SET_MATRICES)
        assert build_chart(Plot(), kind, states[0], view) == ours, kind
        monkeypatch.undo()
