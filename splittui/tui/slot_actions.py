"""The app's slot actions, kept out of app.py: save (s), compare (c), and keeping slots between
sessions. Slots are written to the slot store (`tui/slot_store.py`) whenever they change; when a
write fails they are "unsaved", and q asks once before quitting.

`SlotActions` is a mixin for `SplitApp`; it uses the app's `state`, `slots` and `switch_profile()`.
"""

from __future__ import annotations

from ..errors import SplittuiError
from .when_solved import WhenSolved

__all__ = ["SlotActions"]


class SlotActions(WhenSolved):
    """s, c and q (bound in `SplitApp.BINDINGS`), and the slot store at start-up."""

    slots: tuple = ()
    slots_unsaved: bool = False
    _quit_asked: bool = False

    def restore_slots(self) -> None:
        """Bring back last session's slots (a bad file is reported, never fatal)."""
        from .slot_store import load_slots

        try:
            self.slots = load_slots()
        except SplittuiError as exc:
            self.notify(f"{exc}; starting with no saved slots", severity="warning", timeout=6)
            return
        if self.slots:
            self.notify(f"{len(self.slots)} saved slot{'s' if len(self.slots) > 1 else ''} from last time "
                        "(c compares)", timeout=3)

    def keep_slots(self) -> None:
        """Write the slots to the store; on failure they stay marked unsaved."""
        from .slot_store import save_slots, slots_path

        try:
            save_slots(self.slots)
        except (OSError, SplittuiError, TypeError, ValueError) as exc:
            self.slots_unsaved = True
            self.notify(f"slots not saved to {slots_path()}: {exc}", severity="warning", timeout=6)
            return
        self.slots_unsaved = False

    def action_save_slot(self) -> None:
        from .slots import add_slot
        from .state import full_results

        if not self.solved_or_later(self.action_save_slot, "the slot is saved"):
            return
        st = self.state
        if st is None or st.error:
            self.notify("nothing solved to save", severity="warning")
            return
        self.slots = add_slot(self.slots, st.profile, st.scenario, dict(full_results(st)))
        self.keep_slots()
        self.notify(f"saved as {self.slots[-1].name} ({len(self.slots)} saved; c compares)", timeout=3)

    def action_compare(self) -> None:
        from .screens.compare import CompareScreen

        if not self.slots:
            self.notify("no saved slots yet: press s to save the current scenario", severity="warning")
            return
        self.push_screen(CompareScreen(self.slots), self._compared)

    def _compared(self, outcome) -> None:
        from .slots import find

        if outcome.slots != self.slots:
            self.slots = outcome.slots
            self.keep_slots()
        if outcome.recall is not None:
            slot = find(self.slots, outcome.recall)
            self.switch_profile(slot.profile, slot.scenario)
            self.notify(f"recalled {slot.name}", timeout=2)

    async def action_quit(self) -> None:
        """Quit; with slots that could not be saved, ask once first."""
        from .dialogs import ConfirmScreen
        from .slot_store import slots_path

        if not self.slots_unsaved or self._quit_asked:
            self.exit()
            return
        self._quit_asked = True
        n = len(self.slots)
        self.push_screen(ConfirmScreen(f"{n} slot{'s' if n != 1 else ''} could not be saved to {slots_path()}. "
                                       "Quit anyway? (E exports them first)"),
                         lambda yes: self.exit() if yes else None)
