"""splittui.report: what the command line and the app both draw or write.

Tables and placement strips (`tables`), plotext charts with their captions (`charts`), round
ticks (`ticks`), number formats (`formats`), colours (`palette`), JSON documents (`documents`) and
refuse-to-overwrite file writers (`writers`). It sits above the numerical core and below every
front-end (`commands`, `tui`, `runner`, `profiler`), which never import one another's helpers.
Modules import rich and plotext inside functions where the CLI's start-up would pay for them.
"""
