"""Process start -> first frame of `splittui --model gpt2-like` (headless; exits after the first frame).

Usage: .venv/bin/python benchmarks/tui_start.py
"""
import time, sys
T0 = time.perf_counter()
from splittui.profiles import load_profile
from splittui.tui.app import make_app
T_IMPORT = time.perf_counter()
app = make_app(profile=load_profile("gpt2-like"))
first = []
orig = app._display
def display(screen, renderable):
    orig(screen, renderable)
    if not first and app.state is not None:
        first.append(time.perf_counter())
        app.exit()
app._display = display
app.run(headless=True, size=(80, 24))
print(f"imports {1e3*(T_IMPORT-T0):.0f} ms; first frame {1e3*(first[0]-T0):.0f} ms after the script's first line; "
      f"torch imported: {'torch' in sys.modules}")
