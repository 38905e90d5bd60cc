"""splittui.tui.widgets"""
