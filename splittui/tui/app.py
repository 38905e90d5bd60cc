"""The interactive what-if explorer: `make_app()` builds it for the CLI, the tests and the screenshots.

The app owns one frozen `AppState` (profile, scenario, results, frontier, chart series), replaced as
a whole and bound down to the widgets that draw it (`data_bind`). Every knob change is solved in the
solve worker (`solving.py`), so the UI thread only draws. Secondary screens are imported only when
their key is pressed.
"""

from __future__ import annotations

import gc
import os
import threading

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widgets import TabbedContent, TabPane

from ..model import Profile, Scenario
from ..profiles import load_profile
from ..tiers import Topology
from .command_palette import SplitCommands
from .goal_actions import GoalActions
from .messages import ModelChosen, ScenarioChanged
from .pin_actions import PinActions
from .policy_actions import PolicyActions
from .profile_choice import ProfileChoice, choice_for, model_names
from .slot_actions import SlotActions
from .solving import STALE_SOLVE_CELLS, Solving
from .state import AppState, LoadedPolicy
from .tier_actions import TierActions
from .tier_state import tier_start
from .widgets.banner import InfeasibleBanner
from .widgets.charts import Chart
from .widgets.controls import Controls
from .widgets.footer import SteadyFooter
from .widgets.frontier_cursor import FrontierCursor
from .widgets.numbers import NumbersPanel
from .widgets.status import StatusLine
from .widgets.strip import PlacementStrip

__all__ = ["SplitApp", "make_app", "STALE_SOLVE_CELLS"]

TABS = (("placement", "Placement"), ("frontier", "Frontier"), ("flops", "FLOPs"),
        ("bandwidth", "Bandwidth"), ("timeline", "Timeline"))
MAIN_VIEW_ACTIONS = {"save_slot", "compare", "next_solver", "export", "export_all", "load_policy", "toggle_link",
                     "experiments", "live_profile", "show_tab", "goal", "frontier_cursor", "toggle_pin", "memory"}
KNOB_KEYS = [("↑/↓ tab", "move between knobs"), ("←/→", "small step (or move the layer cursor)"),
             ("shift+←/→ pgup/pgdn", "large step (or next block)"), ("home/end", "ends of the range"),
             ("click/drag", "set a slider with the mouse"), ("ctrl+p", "command palette")]


class SplitApp(TierActions, Solving, GoalActions, SlotActions, PolicyActions, PinActions, App):
    """splittui: where should each layer run so the server works least and the deadline holds?"""

    TITLE = "splittui"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {SplitCommands}
    BINDINGS = [
        Binding("g", "goal", "Goal", tooltip="Goal seek: the least deadline, or the least uplink, for a server "
                "share ≤ X (exact and dp, meeting the TTFT/TPOT limits); Enter applies it to its knob"),
        Binding("f", "frontier_cursor", "Frontier cursor", show=False,
                tooltip="A cursor on the exact frontier (Frontier tab): ←/→ move, Enter sets the deadline"),
        Binding("s", "save_slot", "Save slot", tooltip="Save the current scenario to the next numbered slot"),
        Binding("c", "compare", "Compare", tooltip="Compare saved slots side by side (recall, rename, delete)"),
        Binding("v", "next_solver", "Solver", tooltip="Select the next solver (highlighted row; its "
                "policy is exported, charted in FLOPs and Timeline)"),
        Binding("e", "export", "Export", tooltip="Export the selected solver's policy as splittui.policy JSON"),
        Binding("E", "export_all", "Export slots", show=False, tooltip="Export every saved slot's policy"),
        Binding("P", "toggle_pin", "Pin layer", show=False, tooltip="Pin the strip's layer to the client, then "
                "the server, then unpin it (ctrl+click a layer does too); every solver keeps pinned layers there"),
        Binding("m", "memory", "Memory", show=False, tooltip="Memory per side of the selected placement "
                "(weights, KV, activations, reserve vs limit), what binds, and the memory limits to type"),
        Binding("o", "load_policy", "Load policy", show=False,
                tooltip="Load a policy file and score it under the current knobs"),
        Binding("l", "toggle_link", "Link bandwidths", show=False,
                tooltip="Link or unlink upload and download bandwidth"),
        Binding("x", "experiments", "Experiments", show=False, tooltip="Open the experiments screen"),
        Binding("k", "capacity", "Capacity", show=False,
                tooltip="How many clients one server holds under P90 TTFT / P99 TPOT targets (four strategies)"),
        Binding("j", "energy", "Energy", show=False,
                tooltip="Server work × latency × the client's joules: exact points under caps on its energy"),
        Binding("p", "live_profile", "Profile a model", show=False,
                tooltip="Profile a zoo model live and switch to it"),
        Binding("t", "next_theme", "Next theme", show=False, tooltip="Switch to the next colour theme"),
        Binding("question_mark", "help", "Help", key_display="?", tooltip="List every key"),
        Binding("q", "quit", "Quit", tooltip="Quit splittui"),
        *(Binding(str(i + 1), f"show_tab('{tab}')", f"Show {title}", show=False, tooltip=f"Show the {title} tab")
          for i, (tab, title) in enumerate(TABS)),
    ]

    VERTICAL_BREAKPOINTS = [(0, "-short"), (38, "-tall")]
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]   # wide: knobs in three columns

    # repaint=False: the widgets that show the state repaint themselves; a repaint of the App would
    # redraw the whole screen (a full compositor update) on every key press
    state: reactive[AppState | None] = reactive(None, always_update=True, repaint=False)
    selected: reactive[str] = reactive("dp", repaint=False)   # the solver highlighted, charted and exported
    quitting = False
    user_selected = False   # a solver picked with v: the default (the best that meets every limit) no longer moves

    def __init__(self, profile: Profile, scenario: Scenario, *, show_timings: bool = True,
                 topology: Topology | None = None) -> None:
        super().__init__()
        self.topology = topology   # three or four tiers (tier_state.py); None: client and server
        key = profile.origin or profile.model
        self.profiles: dict[str, Profile] = {key: profile}
        self.profile = profile
        self.choice: ProfileChoice = choice_for(profile, key)
        self.scenario = scenario
        self.show_timings = show_timings
        self.slots: tuple = ()   # saved slots, kept between sessions (SlotActions)
        self.loaded: LoadedPolicy | None = None
        self._generation = 0   # requests so far: an answer to an older one is never shown (Solving)
        self._drawn = threading.Event()

    # layout
    def compose(self) -> ComposeResult:
        yield Controls(self.profile, self.scenario, self._models(), self.choice, topology=self.topology,
                       id="controls")
        yield StatusLine(id="status", topology=self.topology).data_bind(SplitApp.state)
        yield InfeasibleBanner(id="banner").data_bind(SplitApp.state)
        with TabbedContent(id="tabs"):
            for i, (tab, title) in enumerate(TABS):
                with TabPane(f"{i + 1} {title}", id=tab):
                    if tab == "placement":
                        yield NumbersPanel(show_timings=self.show_timings, id="numbers").data_bind(
                            SplitApp.state, SplitApp.selected)
                        yield PlacementStrip(id="strip").data_bind(SplitApp.state, SplitApp.selected)
                        with Horizontal(id="mini-charts"):   # shown on tall terminals only
                            yield Chart("frontier", id="mini-frontier").data_bind(SplitApp.state, SplitApp.selected)
                            yield Chart("timeline", id="mini-timeline").data_bind(SplitApp.state, SplitApp.selected)
                    else:
                        yield Chart(tab, id=f"chart-{tab}").data_bind(SplitApp.state, SplitApp.selected)
                        if tab == "frontier":
                            yield FrontierCursor(id="frontier-cursor")
        yield SteadyFooter()

    def _models(self) -> list[str]:
        return model_names(list(self.profiles))

    def on_mount(self) -> None:
        self.query_one(StatusLine).profile = self.profile
        self.query_one("#deadline").focus()
        if self.topology is not None:   # the mini charts have no tier version: the strip takes their room
            self.query_one("#mini-charts").display = False
        self.resolve()
        self.restore_slots()

    def _settle_heap(self) -> None:
        """Once the first answer is on screen, keep what the app holds for its life (widgets, profiles,
        caches) out of the garbage collector's full passes: those scanned it all, ~80 ms, in the middle
        of a key press's frame now and then; now they scan what was made since."""
        gc.collect()
        gc.freeze()

    def on_unmount(self) -> None:
        gc.unfreeze()   # another app in this process (the tests) may be collected again

    def _profile_arrived(self, st: AppState) -> None:
        """The worker built another profile (model, device or dtype moved): its ranges go to the knobs;
        a length or objective it had to change, too (the output tokens stay as asked; the note says)."""
        self.profile = st.profile
        controls = self.query_one(Controls)
        sc = controls.scenario
        kept = ("seq_len", "objective", "pin_client", "pin_server", "client_mem_gb", "server_mem_gb")
        if any(getattr(st.scenario, f) != getattr(sc, f) for f in kept):   # pins or limits it cannot take: dropped
            sc = sc.replace(**{f: getattr(st.scenario, f) for f in kept})
        self.scenario = sc
        controls.show(st.profile, sc, self._models())
        self.query_one(StatusLine).profile = st.profile

    @on(TabbedContent.TabActivated)
    def _tab_shown(self) -> None:
        self.complete_shown()
        if self.query_one(TabbedContent).active == "frontier":
            self.refresh_frontier()   # the exact frontier too

    def watch_state(self, old: AppState | None, state: AppState | None) -> None:
        if state is None:
            return
        if old is None:
            self.call_after_refresh(self._settle_heap)
        if state.error or state.parts.covers(self.shown_parts()):
            self.undim()
        sub = f"{state.profile.model} · {state.profile.n_layers} layers"
        if self.sub_title != sub:
            self.sub_title = sub
        if self.query_one(TabbedContent).active == "frontier" and not state.error:
            self.refresh_frontier()

    @on(ScenarioChanged)
    def _scenario_changed(self, event: ScenarioChanged) -> None:
        self.scenario = event.scenario
        self.topology = event.topology if self.topology is not None else None
        self.resolve()

    @on(ModelChosen)
    def _model_chosen(self, event: ModelChosen) -> None:
        """A picker moved: the worker builds the profile (cached) and solves, at slider speed."""
        self.choice = event.choice
        # the knobs may be ahead of self.scenario (their change is still queued): keep theirs
        self.scenario = self.query_one(Controls).scenario
        self.resolve()

    def switch_profile(self, profile: Profile, scenario: Scenario | None = None) -> None:
        """Open another profile (a recalled slot, a live profiling), keeping every knob that still applies."""
        key = profile.origin or profile.model
        src = profile.source if isinstance(profile.source, dict) else {}
        if key not in self.profiles or not (src.get("client_device") or src.get("server_device")):
            self.profiles[key] = profile   # a re-timed copy never replaces the measured profile
        sc = scenario or self.scenario
        lo, hi = profile.seq_range
        if not lo <= sc.seq_len <= hi:
            sc = sc.replace(seq_len=profile.default_seq)
        if sc.objective == "mem_bytes" and not profile.has_mem:
            sc = sc.replace(objective="flops")
        self.choice = choice_for(profile, key)
        self.profile, self.scenario = profile, sc
        self.query_one(Controls).show(profile, sc, self._models(), self.choice)
        self.query_one(StatusLine).profile = profile
        self.resolve()

    # actions
    def action_show_tab(self, tab: str) -> None:
        tabs = self.query_one(TabbedContent)
        knob = self.focused if self.focused is not None and tabs not in self.focused.ancestors else None
        self.set_focus(None)   # textual #4955: a focused widget in the old tab snaps `active` back
        tabs.active = tab
        if knob is not None:
            self.call_after_refresh(knob.focus)   # keep driving the same knob

    def action_toggle_link(self) -> None:
        linked = self.query_one(Controls).toggle_link()
        self.notify("upload and download linked" if linked else "upload and download unlinked", timeout=2)

    def watch_selected(self) -> None:
        self.complete_shown()   # a chart of exact's placement needs exact's result

    def action_next_solver(self) -> None:
        names = self.state.solvers if self.state is not None else []
        if names:
            self.user_selected = True
            self.selected = names[(names.index(self.selected) + 1) % len(names)] if self.selected in names else names[0]
            self.notify(f"selected solver: {self.selected} (e exports its policy)", timeout=1.5)

    def action_help(self) -> None:
        from .screens.help import LEGEND, SCREEN_KEYS, HelpScreen

        keys = [(b.key_display or b.key, b.tooltip or b.description) for b in self.BINDINGS if isinstance(b, Binding)]
        self.push_screen(HelpScreen([("", "Knobs and the layer strip"), *KNOB_KEYS, ("", "Main view"), *keys,
                                     *SCREEN_KEYS, *LEGEND]))

    def action_experiments(self) -> None:
        from .screens.experiments import ExperimentsScreen

        self.push_screen(ExperimentsScreen(self.profile, self.scenario, show_timings=self.show_timings))

    def action_capacity(self) -> None:
        from .screens.capacity import CapacityScreen

        self.push_screen(CapacityScreen(self.profile, self.scenario, show_timings=self.show_timings))

    def action_energy(self) -> None:
        from .screens.energy import EnergyScreen

        self.push_screen(EnergyScreen(self.profile, self.scenario, show_timings=self.show_timings))

    def action_live_profile(self) -> None:
        from importlib.util import find_spec

        from .screens.profile import TORCH_MISSING, ProfileScreen

        if find_spec("torch") is None:   # say so before the form, not after the user filled it in
            self.notify(TORCH_MISSING, severity="error", timeout=6)
            return

        def done(profile: Profile | None) -> None:
            if profile is not None:
                self.switch_profile(profile)
                self.notify(f"profiled {profile.model}: now showing it")

        self.push_screen(ProfileScreen(self.profile.model), done)

    def action_next_theme(self) -> None:
        names = sorted(self.available_themes)
        self.theme = names[(names.index(self.theme) + 1) % len(names)] if self.theme in names else names[0]
        self.notify(f"theme: {self.theme}", timeout=1.5)

    def exit(self, *args, **kwargs) -> None:
        self.quitting = True   # a key typed after q (e, g…) must not open a screen on an app being torn down
        super().exit(*args, **kwargs)

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        """Main-view keys act (and show in the footer) only on the main view, not over a dialog; no key
        acts once the app is quitting."""
        from textual.screen import SystemModalScreen

        if self.quitting:
            return False
        over = len(self.screen_stack) > 1 and not isinstance(self.screen, SystemModalScreen)
        return not (over and action in MAIN_VIEW_ACTIONS)

    def palette_commands(self) -> list[tuple[str, str, str]]:
        """(title, action, help) for the command palette: every binding's action."""
        return [(b.description, b.action, f"{b.tooltip} (key {b.key_display or b.key})") for b in self.BINDINGS
                if isinstance(b, Binding)]


def make_app(profile: Profile | None = None, *, scenario: Scenario | None = None,
             show_timings: bool | None = None, policy: dict | None = None,
             topology: Topology | None = None) -> SplitApp:
    """The one factory: `profile` defaults to gpt2-like, `scenario` to the defaults at its length;
    `policy` (a splittui.policy document) is scored from the start as the row 'file:<solver>'.
    `topology` (three or four tiers; or a `tiers` section in `policy`, which may hold only that) opens
    the app on that chain, `profile` being the model on its last tier.

    show_timings=False (or SPLITTUI_HIDE_TIMINGS=1) hides solve times, for reproducible snapshots.
    """
    profile = profile or load_profile("gpt2-like")
    scenario = scenario or Scenario(seq_len=profile.default_seq)
    if show_timings is None:
        show_timings = os.environ.get("SPLITTUI_HIDE_TIMINGS", "") in ("", "0")
    topology, tier_row = tier_start(policy, topology)
    app = SplitApp(profile, scenario, show_timings=show_timings, topology=topology)
    if tier_row is not None:
        app.loaded = LoadedPolicy(label=tier_row[0], policy=tier_row[1])
    elif policy is not None and isinstance(policy.get("policy"), list):
        app.loaded = LoadedPolicy(label=f"file:{policy.get('solver', 'policy')}", policy=tuple(policy["policy"]))
    return app
