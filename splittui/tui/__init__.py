"""splittui.tui"""
